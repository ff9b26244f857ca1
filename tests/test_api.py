"""The public API: every name of ``pyama_dask.__all__`` is importable from the package, and it runs end to end."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import pyama_dask


def test_every_public_name_resolves_to_its_home():
    for name in pyama_dask.__all__:
        assert getattr(pyama_dask, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        pyama_dask.nothing  # noqa: B018


def test_importing_the_package_imports_no_dask():
    code = "import sys, pyama_dask; print('distributed' in sys.modules, 'zarr' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split() \
        == ["False", "False"]


def test_a_run_through_the_public_api_gives_its_traces(tiny_dataset, dask_client, tmp_path):
    from pyama_dask import Channels, ProcessingContext, load_microscopy_file, read_traces, run_complete_workflow

    _, metadata = load_microscopy_file(tiny_dataset.image_path)
    context = ProcessingContext(tmp_path, Channels(pc=0, fl=[1]), params={"min_trace_length": 5})
    assert run_complete_workflow(metadata, context, client=dask_client)
    traces = read_traces(tmp_path)
    csv = pd.read_csv(context.results_paths[0].traces_csv[0][1])
    assert len(traces[traces["fov"] == 0]) == len(csv) > 0
    assert set(traces["channel"]) == {1}
