"""One completion record for every kind of output: store groups and files."""

from __future__ import annotations

import numpy as np
import pytest

from pyama_dask.io.completion import clear_complete, completed_fingerprint, mark_complete
from pyama_dask.io.corrected import open_corrected, write_corrected
from pyama_dask.io.store import ImageRef, StoreError, create_image


def test_an_image_is_incomplete_until_marked_and_again_once_cleared(tmp_path):
    ref = ImageRef(tmp_path, 0, "seg", 0)
    assert completed_fingerprint(ref) is None  # absent
    create_image(ref, (2, 8, 8), bool)[:] = True
    assert completed_fingerprint(ref) is None  # written, not marked
    mark_complete(ref, "fp1")
    assert completed_fingerprint(ref) == completed_fingerprint(ref.location) == "fp1"
    clear_complete(ref)
    assert completed_fingerprint(ref) is None


def test_a_file_is_complete_only_with_its_marker(tmp_path):
    path = tmp_path / "fov_000" / "x_traces_ch_1.csv"
    clear_complete(path)  # absent: nothing to clear
    path.parent.mkdir()
    path.write_text("fov,cell\n0,")  # left behind by a killed run
    assert completed_fingerprint(path) is None
    mark_complete(path, "fp")
    assert completed_fingerprint(path) == "fp"
    clear_complete(path)
    assert completed_fingerprint(path) is None and path.is_file()


def test_a_marker_without_its_file_is_not_complete(tmp_path):
    path = tmp_path / "traces.csv"
    mark_complete(path, "fp")
    assert completed_fingerprint(path) is None


def test_the_corrected_group_goes_by_the_same_record(tmp_path):
    raw, corrected = ImageRef(tmp_path, 0, "fl", 1), ImageRef(tmp_path, 0, "fl_corrected", 1)
    create_image(raw, (2, 32, 32), np.uint16)[:] = 100
    mark_complete(raw, "raw")
    write_corrected(corrected, raw, np.full((2, 1, 1), 90, np.float32), tile_size=32)
    with pytest.raises(StoreError, match="incomplete"):
        open_corrected(corrected.location)
    mark_complete(corrected, "fp")
    assert completed_fingerprint(corrected.location) == "fp"
    assert float(open_corrected(corrected.location)[0][0, 0]) == pytest.approx(10.0)
