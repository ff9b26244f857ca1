"""Comparing the outputs of two runs: every array of the store and every trace file, FOV by FOV."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import yaml
import zarr

from pyama_dask.rundir.results import RESULTS_FILE
from pyama_dask.io.store import STORE_NAME, fov_group_name


def run_outputs(out: Path, fovs: Iterable[int] | None = None) -> dict[str, bytes | np.ndarray]:
    """Every trace file's bytes and every array's pixels of a run, by path relative to ``out``.

    Only the given FOVs' outputs when ``fovs`` is given.
    """
    out = Path(out)
    groups = None if fovs is None else {fov_group_name(fov) for fov in fovs}
    found: dict[str, bytes | np.ndarray] = {}
    for csv in sorted(out.glob("fov_*/*.csv")):
        if groups is None or csv.parent.name in groups:
            found[str(csv.relative_to(out))] = csv.read_bytes()
    store = out / STORE_NAME
    if store.is_dir():
        for path, array in _arrays(store):
            if groups is None or path.split("/")[0] in groups:
                found[f"{STORE_NAME}/{path}"] = array[...]
    return found


def _arrays(store: Path) -> list[tuple[str, zarr.Array]]:
    root = zarr.open_group(store, mode="r")
    return sorted((path, node) for path, node in root.members(max_depth=None) if isinstance(node, zarr.Array))


def assert_same_outputs(got: Path, want: Path, fovs: Iterable[int] | None = None) -> None:
    """Assert that two runs hold the same arrays (pixel for pixel) and trace files (byte for byte)."""
    fovs = None if fovs is None else list(fovs)
    a, b = run_outputs(got, fovs), run_outputs(want, fovs)
    assert sorted(a) == sorted(b), f"different outputs in {got} and {want}"
    assert a, f"no outputs to compare in {want}"
    for key in a:
        if isinstance(a[key], bytes):
            assert a[key] == b[key], key
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def recorded_fovs(out: Path) -> list[int]:
    """The FOVs ``processing_results.yaml`` lists (it must parse as a whole)."""
    document = yaml.safe_load((Path(out) / RESULTS_FILE).read_text())
    return sorted(map(int, document["results_paths"]))
