"""The microscope simulator: the batch synthetic dataset's pixels, written in acquisition order."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from pyama_dask.cli import main
from pyama_dask.io.inputs.growing import END_MARKER
from pyama_dask.io.inputs.microscopy import load_microscopy_file, read_frames
from pyama_dask.synthetic import SyntheticSpec, generate_dataset
from pyama_dask.synthetic.acquisition import parse_interval, simulate_acquisition, start_acquisition
from pyama_dask.synthetic.acquisition_writers import TiffFolderWriter

SPEC = SyntheticSpec(n_fovs=2, n_frames=3, size=128, n_cells=1, seed=5)


@pytest.mark.parametrize(("text", "seconds"), [("5s", 5.0), ("0.2s", 0.2), ("1m", 60.0), ("2min", 120.0),
                                               ("500ms", 0.5), ("1.5h", 5400.0), ("3", 3.0), (0, 0.0)])
def test_intervals_read_with_their_unit(text, seconds: float) -> None:
    assert parse_interval(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5 parsecs", "s", "-1s", "1s2"])
def test_bad_interval_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="interval"):
        parse_interval(text)


@pytest.mark.parametrize(("layout", "name", "options"), [
    ("tiff-folder", "metamorph", {"naming": "metamorph"}),
    ("tiff-folder", "micro-manager", {"naming": "micro-manager"}),
    ("ome-zarr", "a.ome.zarr", {"ngff_version": "0.5"}),
    ("ome-zarr", "b.ome.zarr", {"ngff_version": "0.4", "growth": "chunks-first"}),
])
def test_pixels_are_those_of_the_batch_synthetic_dataset(tmp_path: Path, layout: str, name: str, options) -> None:
    batch = generate_dataset(tmp_path / "batch", SPEC)
    path = simulate_acquisition(tmp_path / name, SPEC, layout, 0, **options)
    _, simulated = load_microscopy_file(path)
    _, generated = load_microscopy_file(batch.image_path)
    assert simulated.timepoints == generated.timepoints
    assert simulated.n_fovs == SPEC.n_fovs and simulated.n_frames == SPEC.n_frames
    assert simulated.pixel_size_um in (SPEC.pixel_size_um, None)  # Micro-Manager folders: no calibration read
    for fov in range(SPEC.n_fovs):
        for channel, channel_name in enumerate(generated.channel_names):
            mine = simulated.channel_names.index(channel_name)
            np.testing.assert_array_equal(read_frames(path, fov, mine), read_frames(batch.image_path, fov, channel))
    assert (path / END_MARKER).is_file()


def test_planes_are_written_in_acquisition_order_and_the_end_marker_last(tmp_path: Path) -> None:
    path = simulate_acquisition(tmp_path / "acq", SPEC, "tiff-folder", 0.05, partial_pause=0.01)
    writer = TiffFolderWriter(path, SPEC)
    order = [(t, fov, channel) for t in range(SPEC.n_frames) for fov in range(SPEC.n_fovs)
             for channel in range(len(SPEC.channel_names))]
    written = [os.stat(path / writer.file_name(fov, t, channel)).st_mtime_ns for t, fov, channel in order]
    assert written == sorted(written)  # time points in turn; in each, FOVs in turn; in each, all channels
    assert os.stat(path / END_MARKER).st_mtime_ns >= written[-1]


def test_one_file_appears_before_it_is_complete(tmp_path: Path) -> None:
    acquisition = start_acquisition(tmp_path / "acq", SPEC, "tiff-folder", 0, partial=(1, 1), partial_pause=1.0)
    partial = acquisition.path / TiffFolderWriter(acquisition.path, SPEC).file_name(1, 1, len(SPEC.channel_names) - 1)
    sizes = set()
    while acquisition.is_alive():
        if partial.exists():
            sizes.add(partial.stat().st_size)
        time.sleep(0.01)
    acquisition.result()
    whole = partial.stat().st_size
    assert any(0 < size < whole for size in sizes)


def test_stopped_acquisition_has_no_end_marker(tmp_path: Path) -> None:
    acquisition = start_acquisition(tmp_path / "acq", SPEC, "tiff-folder", 30)
    while not any(acquisition.path.glob("*.tif")):
        time.sleep(0.01)
    acquisition.stop()
    assert acquisition.result() == acquisition.path
    assert not (acquisition.path / END_MARKER).exists()
    assert not any(acquisition.path.glob("*_time2.tif"))  # stopped before the second time point


def test_thread_hands_its_error_to_the_caller(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"must end in \.zarr"):
        start_acquisition(tmp_path / "acq", SPEC, "ome-zarr", 0)
    acquisition = start_acquisition(tmp_path / "acq", SPEC, "tiff-folder", 0, naming="olympus")
    with pytest.raises(ValueError, match="naming 'olympus'"):
        acquisition.result()


def test_command_writes_an_acquisition_the_batch_reader_reads(tmp_path: Path, capsys) -> None:
    out = tmp_path / "acq.ome.zarr"
    code = main(["simulate-acquisition", str(out), "--layout", "ome-zarr", "--interval", "0s", "--fovs", "1",
                 "--frames", "2", "--size", "128", "--ngff-version", "0.4"])
    assert code == 0
    assert f"acquisition complete: {out}" in capsys.readouterr().out
    _, meta = load_microscopy_file(out)
    assert (meta.n_fovs, meta.n_frames, meta.channel_names) == (1, 2, ["Phase", "GFP", "mCherry"])
    assert (out / ".zattrs").is_file()  # NGFF 0.4: Zarr v2


def test_command_refuses_a_bad_interval(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["simulate-acquisition", str(tmp_path / "acq"), "--interval", "soon"])
    assert "interval 'soon'" in capsys.readouterr().err
