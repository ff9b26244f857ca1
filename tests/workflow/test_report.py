"""What a run records about itself: performance report, provenance (versions, input checksum)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import threading
from importlib.metadata import version

import pytest
import yaml
from distributed import Client, get_client

from pyama_dask.rundir import provenance
from pyama_dask.io.inputs.microscopy import input_identity, read_metadata
from pyama_dask.rundir.private import PRIVATE_MODE
from pyama_dask.rundir.provenance import RECORDED_PACKAGES, InputChecksum, input_checksum
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.workflow.report import saved_performance_report
from pyama_dask.workflow.run import run_complete_workflow


def _provenance(out):
    return yaml.safe_load((out / "processing_results.yaml").read_text())["provenance"]


def test_run_saves_the_performance_report(tiny_run):
    html = (tiny_run / "performance_report.html").read_text()
    assert "Dask Performance Report" in html
    assert stat.S_IMODE((tiny_run / "performance_report.html").stat().st_mode) == PRIVATE_MODE
    assert _provenance(tiny_run)["performance_report"] == "performance_report.html"


def test_provenance_records_versions_and_the_input_checksum(tiny_run, tiny_dataset):
    record = _provenance(tiny_run)
    assert record["packages"] == {name: version(name) for name in RECORDED_PACKAGES}
    content = tiny_dataset.image_path.read_bytes()
    assert record["input"]["sha256"] == hashlib.sha256(content).hexdigest()
    assert (record["input"]["files"], record["input"]["bytes"]) == (1, len(content))
    assert record["python"] and record["finished"]


def test_the_input_is_recorded_as_given_and_resolved_only_in_provenance(tiny_dataset, dask_client, tmp_path):
    link = tmp_path / "linked.ome.tiff"
    link.symlink_to(tiny_dataset.image_path)
    out = tmp_path / "out"
    context = ProcessingContext(out, Channels(pc=0, fl=[1]), params={"min_trace_length": 5})
    assert run_complete_workflow(read_metadata(link), context, 0, 0, client=dask_client)
    document = yaml.safe_load((out / "processing_results.yaml").read_text())
    assert document["input_file"] == str(link)
    assert document["provenance"]["input"]["path"] == str(tiny_dataset.image_path.resolve())


def test_report_is_made_through_the_given_client_not_the_default_one(dask_client, tmp_path):
    with Client(dask_client.scheduler.address, set_as_default=False) as other:
        with saved_performance_report(other, tmp_path / "report.html"):
            assert get_client() is other
            assert other.submit(sum, [1, 2]).result() == 3
    assert get_client() is dask_client
    assert "Dask Performance Report" in (tmp_path / "report.html").read_text()


def test_a_rerun_reuses_the_recorded_checksum(
        tiny_run, tiny_dataset, dask_client, tmp_path, monkeypatch):
    out = tmp_path / "again"
    shutil.copytree(tiny_run, out)
    (out / ".pyama-run.lock").unlink(missing_ok=True)
    (out / "performance_report.html").unlink()

    def must_not_hash(identity):
        raise AssertionError("the input was hashed again")

    monkeypatch.setattr(provenance, "input_checksum", must_not_hash)
    context = ProcessingContext(out, Channels(pc=0, fl=[1, 2]), params={"min_trace_length": 5})
    with Client(dask_client.scheduler.address, set_as_default=False) as other:
        assert run_complete_workflow(read_metadata(tiny_dataset.image_path), context, client=other)
    assert (out / "performance_report.html").stat().st_size > 10_000
    assert _provenance(out)["input"] == _provenance(tiny_run)["input"]


def test_checksum_of_a_folder_is_that_of_its_manifest(tmp_path):
    folder = tmp_path / "input.ome.zarr"
    (folder / "0").mkdir(parents=True)
    (folder / "zarr.json").write_bytes(b"{}")
    (folder / "0" / "c").write_bytes(b"\x00\x01" * 10_000)
    record = input_checksum(input_identity(folder))
    manifest = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                       for name, data in [("0/c", b"\x00\x01" * 10_000), ("zarr.json", b"{}")])
    assert record["sha256"] == hashlib.sha256(manifest.encode()).hexdigest()
    assert (record["files"], record["bytes"]) == (2, 20_002)


def test_unreadable_input_gives_an_error_entry(tmp_path, caplog):
    path = tmp_path / "gone.nd2"
    identity = {"input": str(path), "files": [(str(path), 10, 0)]}
    result = InputChecksum(identity).result()
    assert result["sha256"] is None and "gone.nd2" in result["error"]
    assert "cannot checksum the input" in caplog.text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have their own nice value on Linux only")
def test_the_checksum_runs_at_the_lowest_priority_leaving_the_cpu_to_the_workers(tmp_path, monkeypatch):
    seen = []
    (tmp_path / "input.tif").write_bytes(b"pixels")
    monkeypatch.setattr(provenance, "input_checksum",
                        lambda identity: seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
                        or {"sha256": "x"})
    assert InputChecksum(input_identity(tmp_path / "input.tif")).result() == {"sha256": "x"}
    assert seen == [19]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < 19  # this thread kept its own
