"""``pyama-dask run --pattern``: a batch run of a folder of per-plane TIFFs named by a user's pattern."""

from __future__ import annotations

import shutil
from pathlib import Path

from pyama_dask.cli import main
from pyama_dask.synthetic import SyntheticSpec
from pyama_dask.synthetic.acquisition import simulate_acquisition

PATTERN = r"(?P<channel>[^@]+)@s(?P<position>\d+)@t(?P<time>\d+)\.tif"


def test_a_folder_named_by_a_pattern_runs_as_its_metamorph_twin(tmp_path: Path, dask_client, capsys) -> None:
    spec = SyntheticSpec(n_fovs=2, n_frames=4, size=192, n_cells=2, n_fluorescence=1, seed=5)
    metamorph = simulate_acquisition(tmp_path / "metamorph" / "acq", spec, "tiff-folder", 0, partial=None)
    custom = Path(shutil.copytree(metamorph, tmp_path / "custom" / "acq"))
    for file in list(custom.glob("*.tif")):
        file.rename(custom / file.name.replace("_Position", "@s").replace("_time", "@t"))
    config = tmp_path / "run.yaml"
    config.write_text("params:\n  min_trace_length: 3\n")
    common = ["--pc", "Phase", "--fl", "GFP", "--config", str(config), "--scheduler", dask_client.scheduler.address, "--no-progress"]

    assert main(["run", str(custom), "--out", str(tmp_path / "no-pattern"), *common]) == 2
    assert "not a recognised input" in capsys.readouterr().err
    assert main(["run", str(custom), "--pattern", PATTERN, "--out", str(tmp_path / "out-custom"), *common]) == 0
    assert main(["run", str(metamorph), "--out", str(tmp_path / "out-metamorph"), *common]) == 0
    for fov in (0, 1):
        name = f"fov_{fov:03d}/acq_fov_{fov:03d}_traces_ch_0.csv"
        custom_traces = (tmp_path / "out-custom" / name).read_bytes()
        assert custom_traces == (tmp_path / "out-metamorph" / name).read_bytes()
        assert len(custom_traces.splitlines()) > 1  # cells traced
