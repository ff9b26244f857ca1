"""The workflow on a LocalCluster: outputs, parity with the in-process path, resume, failures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
import zarr
from matplotlib.figure import Figure

from pyama_dask.cli import main
from pyama_dask.io.corrected import open_corrected
from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.io.completion import completed_fingerprint
from pyama_dask.io.store import ImageRef, open_image
from pyama_dask.io.traces import read_traces_csv
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.context import Channels, ProcessingContext, ResultsPathsPerFOV
from pyama_dask.workflow.run import run_complete_workflow
from pyama_dask.pipeline.serial import process_fov_serial
from pyama_dask.qc import write_qc_figures
from pyama_dask.rundir.results import recorded_outputs

PARAMS = {"min_trace_length": 5}
CHANNELS = Channels(pc=0, fl=[1, 2])


def _run(meta, out, client, events=None, params=PARAMS, **kwargs):
    context = ProcessingContext(out, CHANNELS, params=dict(params))
    ok = run_complete_workflow(meta, context, client=client, progress=events.append if events is not None else None,
                               **kwargs)
    return ok, context


def _statuses(events, step=None):
    return sorted((e.step, e.fov, e.channel, e.status) for e in events if step is None or e.step == step)


@pytest.fixture(scope="module")
def full_run(tiny_dataset, dask_client, tmp_path_factory):
    meta = read_metadata(tiny_dataset.image_path)
    out = tmp_path_factory.mktemp("full")
    events = []
    ok, context = _run(meta, out, dask_client, events)
    return meta, out, ok, context, events


def test_every_fov_has_all_outputs(full_run):
    meta, out, ok, context, events = full_run
    assert ok
    assert sorted(context.results_paths) == [0, 1, 2]
    for fov, paths in context.results_paths.items():
        shape = meta.fov_shapes[fov]
        for kind, channel, dtype in [("pc", 0, np.uint16), ("fl", 1, np.uint16), ("seg", 0, np.bool_),
                                     ("seg_labeled", 0, np.uint16)]:
            image = open_image(ImageRef(out, fov, kind, channel))
            assert image.shape == shape and image.dtype == dtype
        for channel, location in paths.fl_corrected:
            corrected = open_corrected(location)
            assert corrected.shape == shape and corrected.dtype == np.float32
        for channel, csv in paths.traces_csv:
            assert csv.name == f"tiny_fov_{fov:03d}_traces_ch_{channel}.csv"
            assert csv.parent == out / f"fov_{fov:03d}"
    assert {e.status for e in events} == {"done"}
    assert len(events) == 3 * 10  # per FOV: 3 copies, segment, track, tracks graph, 2 corrections, 2 extractions


def test_traces_equal_the_in_process_algorithms(full_run):
    meta, out, ok, context, _ = full_run
    for fov in range(meta.n_fovs):
        expected = process_fov_serial(meta, fov, CHANNELS, Params.from_mapping(PARAMS))
        for channel, csv in context.results_paths[fov].traces_csv:
            got = read_traces_csv(csv)
            want = expected[channel].reset_index(drop=True)
            assert len(want) > 0, "the tiny dataset must give traces"
            assert list(got.columns) == list(want.columns)
            pd.testing.assert_frame_equal(got[["fov", "cell", "frame", "area", "good"]],
                                          want[["fov", "cell", "frame", "area", "good"]], check_dtype=False)
            for column in ["time", "position_x", "position_y", "intensity_total"]:
                np.testing.assert_allclose(got[column], want[column], rtol=1e-6, atol=1e-5)


def test_results_yaml_has_the_seed_schema(full_run):
    meta, out, ok, context, _ = full_run
    doc = yaml.safe_load((out / "processing_results.yaml").read_text())
    assert doc["channels"] == {"pc": 0, "fl": [1, 2]}
    assert doc["time_units"] == "min"
    assert doc["params"]["min_trace_length"] == 5
    assert list(doc["results_paths"]) == ["0", "1", "2"]
    assert ResultsPathsPerFOV.from_dict(recorded_outputs(out, doc)[1]) == context.results_paths[1]


def test_second_run_skips_everything(full_run, dask_client):
    meta, out, *_ = full_run
    events = []
    ok, _ = _run(meta, out, dask_client, events)
    assert ok and {e.status for e in events} == {"skipped"} and len(events) == 30


def test_parameter_change_recomputes_only_downstream(tiny_dataset, dask_client, tmp_path):
    meta = read_metadata(tiny_dataset.image_path)
    _run(meta, tmp_path, dask_client, fov_start=0, fov_end=0)
    events = []
    _run(meta, tmp_path, dask_client, events, params={**PARAMS, "min_trace_length": 6}, fov_start=0, fov_end=0)
    assert {(e.step, e.status) for e in events} == {
        ("copy", "skipped"), ("segment", "skipped"), ("track", "skipped"), ("graph", "skipped"),
        ("correct", "skipped"), ("extract", "done")}
    events.clear()
    _run(meta, tmp_path, dask_client, events, params={**PARAMS, "sigma_factor": 2.5}, fov_start=0, fov_end=0)
    assert {(e.step, e.status) for e in events} == {
        ("copy", "skipped"), ("segment", "done"), ("track", "done"), ("graph", "done"), ("correct", "done"),
        ("extract", "done")}


def test_fov_ranges_merge_in_results_yaml(tiny_dataset, dask_client, tmp_path):
    meta = read_metadata(tiny_dataset.image_path)
    _run(meta, tmp_path, dask_client, fov_start=2, fov_end=2)
    _run(meta, tmp_path, dask_client, fov_start=0, fov_end=0)
    doc = yaml.safe_load((tmp_path / "processing_results.yaml").read_text())
    assert list(doc["results_paths"]) == ["0", "2"]
    assert not (tmp_path / "pyama.zarr" / "fov_001").exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"fov_start": 2, "fov_end": 1}, "reversed"),
    ({"fov_end": 3}, "out of range"),
    ({"params": {"no_such_param": 1}}, "no_such_param"),
])
def test_bad_requests_fail_before_any_work(tiny_dataset, dask_client, tmp_path, kwargs, message):
    meta = read_metadata(tiny_dataset.image_path)
    out = tmp_path / "out"
    params = kwargs.pop("params", PARAMS)
    with pytest.raises(ValueError, match=message):
        _run(meta, out, dask_client, params=params, **kwargs)
    assert not out.exists()


def test_interrupted_outputs_are_recomputed(full_run, dask_client, tmp_path):
    """An image left incomplete is recomputed; complete outputs made from the same inputs are kept."""
    meta, out, *_ = full_run
    shutil.copytree(out, tmp_path / "copy")
    target = tmp_path / "copy"
    (target / ".pyama-run.lock").unlink(missing_ok=True)
    seg = ImageRef(target, 1, "seg", 0)
    group = zarr.open_group(seg.location, mode="a")
    group.attrs["pyama"] = {"complete": None}  # as if killed while writing
    events = []
    assert _run(meta, target, dask_client, events)[0]
    redone = {(e.step, e.fov) for e in events if e.status == "done"}
    assert redone == {("segment", 1)}
    assert completed_fingerprint(seg) is not None
    for channel in (1, 2):
        csv = f"fov_001/tiny_fov_001_traces_ch_{channel}.csv"
        assert (target / csv).read_text() == (out / csv).read_text()


def test_extra_features_are_measured_in_the_distributed_run(tiny_dataset, dask_client, tmp_path):
    meta = read_metadata(tiny_dataset.image_path)
    params = {**PARAMS, "extra_features": True}
    ok, context = _run(meta, tmp_path, dask_client, params=params, fov_start=1, fov_end=1)
    assert ok
    expected = process_fov_serial(meta, 1, CHANNELS, Params.from_mapping(params))
    for channel, csv in context.results_paths[1].traces_csv:
        got = read_traces_csv(csv)
        assert {"intensity_mean", "background", "centroid_x", "centroid_y"} <= set(got.columns)
        assert len(got) and np.isfinite(got["background"]).all()
        for column in ["intensity_mean", "background", "centroid_x", "centroid_y"]:
            np.testing.assert_allclose(got[column], expected[channel][column], rtol=1e-5, atol=1e-4)


BEFORE = Path(__file__).resolve().parents[1] / "fixtures" / "store_before_step_table"


@pytest.fixture
def store_before(tmp_path, monkeypatch):
    """A copy of a run's input and output made by the code before the step table, and the identity it recorded.

    The input's identity (its path, size and time stamp) and the input file
    the results file names are those of the original: the copy stands in for it.
    """
    shutil.copytree(BEFORE, tmp_path / "before")
    results = tmp_path / "before" / "output" / "processing_results.yaml"
    document = yaml.safe_load(results.read_text())
    document["input_file"] = str(tmp_path / "before" / "input" / "tiny.ome.tiff")
    results.write_text(yaml.safe_dump(document))
    recorded = json.loads((BEFORE / "fingerprints.json").read_text())
    monkeypatch.setattr("pyama_dask.workflow.run.input_identity", lambda path: recorded["identity"])
    return tmp_path / "before", recorded


def _assert_only_the_graph_made(events: list, recorded: dict) -> None:
    """Every task of the steps of then was skipped; the tracks graph, a step added since, ran once."""
    former = {tuple(key.split("-ch")) for key in recorded["plans"]["default"]["fingerprints"]}
    statuses = {(e.step, str(e.channel)): e.status for e in events}
    assert len(events) == len(former) + 1 == 7
    assert statuses == {**dict.fromkeys(former, "skipped"), ("graph", "0"): "done"}


def test_a_store_made_before_the_step_table_resumes_with_every_task_of_then_skipped(store_before, dask_client):
    folder, recorded = store_before
    meta = read_metadata(folder / "input" / "tiny.ome.tiff")
    context = ProcessingContext(folder / "output", Channels(pc=0, fl=[1]), params=recorded["plans"]["default"]["params"])
    events = []
    assert run_complete_workflow(meta, context, client=dask_client, progress=events.append)
    _assert_only_the_graph_made(events, recorded)


def test_outputs_are_bit_identical_to_those_made_before_the_step_table(store_before, dask_client, tmp_path):
    folder, recorded = store_before
    meta = read_metadata(folder / "input" / "tiny.ome.tiff")
    out = tmp_path / "now"
    context = ProcessingContext(out, Channels(pc=0, fl=[1]), params=recorded["plans"]["default"]["params"])
    assert run_complete_workflow(meta, context, client=dask_client)
    for kind, channel in [("pc", 0), ("fl", 1), ("seg", 0), ("seg_labeled", 0)]:
        before, now = ImageRef(folder / "output", 0, kind, channel), ImageRef(out, 0, kind, channel)
        np.testing.assert_array_equal(open_image(now)[:], open_image(before)[:], err_msg=kind)
        assert completed_fingerprint(now) == completed_fingerprint(before)
    csv = "fov_000/tiny_fov_000_traces_ch_1.csv"
    assert (out / csv).read_bytes() == (folder / "output" / csv).read_bytes()


def _seed_trace_files(results_file: Path, fov: int) -> tuple[list[Path], list[Path]]:
    """The trace files of a FOV as PyAMA-core's seed reads them (its documented rules), by its loader and its merge.

    Both look FOVs up by string key. The loader re-roots a path that does not
    exist (from the working directory) onto the results file's folder with its
    last two parts; the merge takes a relative path as relative to that folder.
    """
    document = yaml.safe_load(results_file.read_text())
    recorded = [Path(path) for _, path in document["results_paths"].get(str(fov), {}).get("traces_csv") or []]
    loaded = [path if path.exists() else results_file.parent.joinpath(*path.parts[-2:]) for path in recorded]
    merged = [path if path.is_absolute() else results_file.parent / path for path in recorded]
    return loaded, merged


def test_an_output_folder_made_with_a_relative_path_is_read_after_moving_it(tiny_dataset, dask_client, tmp_path,
                                                                             monkeypatch, capsys):
    meta = read_metadata(tiny_dataset.image_path)
    (tmp_path / "start").mkdir()
    monkeypatch.chdir(tmp_path / "start")
    assert _run(meta, Path("out"), dask_client, fov_start=1, fov_end=1)[0]
    moved = tmp_path / "elsewhere" / "copied"
    shutil.copytree(tmp_path / "start" / "out", moved)
    shutil.rmtree(tmp_path / "start" / "out")
    monkeypatch.chdir(tmp_path)

    csvs = [moved / "fov_001" / f"tiny_fov_001_traces_ch_{channel}.csv" for channel in (1, 2)]
    rows = sum(len(read_traces_csv(csv)) for csv in csvs)
    assert rows > 0
    (moved / "traces.parquet").unlink()  # the merged table is made again from the listed trace files
    assert main(["traces", str(moved), "--format", "csv", "-o", str(tmp_path / "all.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "all.csv")) == rows
    drawn = []
    monkeypatch.setattr("pyama_dask.qc.traces_figure", lambda traces, *a, **k: drawn.append(traces) or Figure())
    write_qc_figures(moved)
    assert len(drawn) == 1 and len(drawn[0]) == rows
    assert _seed_trace_files(moved / "processing_results.yaml", 1) == (csvs, csvs)


def test_a_results_file_of_before_is_read_in_place_and_rewritten_portably(store_before, dask_client):
    folder, recorded = store_before
    out = folder / "output"
    listed = [[1, str(out / "fov_000" / "tiny_fov_000_traces_ch_1.csv")]]
    assert recorded_outputs(out)[0]["traces_csv"] == listed  # recorded under /tmp/fixgen, found here
    meta = read_metadata(folder / "input" / "tiny.ome.tiff")
    context = ProcessingContext(out, Channels(pc=0, fl=[1]), params=recorded["plans"]["default"]["params"])
    events = []
    assert run_complete_workflow(meta, context, client=dask_client, progress=events.append)
    _assert_only_the_graph_made(events, recorded)
    document = yaml.safe_load((out / "processing_results.yaml").read_text())
    assert list(document["results_paths"]) == ["0"]
    assert document["results_paths"]["0"]["traces_csv"] == [[1, "fov_000/tiny_fov_000_traces_ch_1.csv"]]
    assert document["results_paths"]["0"]["seg_labeled"] == [0, "pyama.zarr/fov_000/pc_ch_0/labels/seg_labeled_ch_0"]
    assert document["results_paths"]["0"]["tracks"] == [0, "pyama.zarr/fov_000/tracks_ch_0"]
    assert recorded_outputs(out)[0]["traces_csv"] == listed
