"""The notebooks: the quickstart runs end to end; the HPC one (not run here: it needs Slurm) is valid Python."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _code_cells(notebook):
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


@pytest.mark.timeout(300)
def test_quickstart_runs_end_to_end(tmp_path):
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    NotebookClient(notebook, timeout=180, resources={"metadata": {"path": str(tmp_path)}}).execute()

    results = tmp_path / "quickstart-output" / "results"
    assert (results / "traces.parquet").is_file() and (results / "performance_report.html").is_file()
    assert sorted(p.name for p in (results / "qc").iterdir()) == [
        "fov_000_frame.png", "fov_000_traces.png", "fov_001_frame.png", "fov_001_traces.png"]
    images = [o for cell in notebook.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 3, "the traces plot, the frame with the tracked cells and the fitted cells"
    fits = pd.read_parquet(results / "fits.parquet")
    assert set(fits["model"]) == {"trivial"} and set(fits["channel"]) == {1} and fits["success"].any()


def test_hpc_notebook_is_valid_and_uses_a_slurm_cluster():
    notebook = nbformat.read(NOTEBOOKS / "hpc.ipynb", as_version=4)
    nbformat.validate(notebook)
    sources = _code_cells(notebook)
    for source in sources:
        ast.parse(source)
    code = "\n".join(sources)
    assert 'make_cluster("slurm"' in code and "client=client" in code
