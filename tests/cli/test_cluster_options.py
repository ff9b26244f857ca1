"""Cluster options of the command line: what a dry run shows, and a TLS scheduler without certificates."""

from __future__ import annotations

import dask
import pytest

from pyama_dask.cli import main
from pyama_dask.workflow.security import CERT_FILE, KEY_FILE


def test_a_dry_run_shows_the_tls_options_of_the_job_script(capsys) -> None:
    pytest.importorskip("dask_jobqueue")
    assert main(["demo", "--cluster", "slurm", "--cores", "1", "--memory", "2GB", "--dry-run"]) == 0
    script = capsys.readouterr().out
    assert "dask_worker tls://<scheduler-address>:8786 " in script
    assert "--protocol tls://" in script
    assert f"--tls-ca-file <credentials-folder>/{CERT_FILE} --tls-cert <credentials-folder>/{CERT_FILE} " \
           f"--tls-key <credentials-folder>/{KEY_FILE}" in script


def test_a_tls_scheduler_without_certificates_is_refused_before_any_work(tiny_dataset, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    with dask.config.set({"distributed.comm.tls.ca-file": None, "distributed.comm.tls.client.cert": None}):
        code = main(["run", str(tiny_dataset.image_path), "--out", str(out), "--fl", "1", "--no-progress",
                     "--scheduler", "tls://node042:8786"])
    assert code == 2
    error = capsys.readouterr().err
    assert "scheduler tls://node042:8786 speaks TLS, but dask's config has no client certificate" in error
    assert "distributed.comm.tls.client.cert" in error
    assert not out.exists()
