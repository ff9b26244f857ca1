"""``pyama-dask info`` on a folder of per-plane TIFFs named by a user's pattern."""

from __future__ import annotations

import json
from pathlib import Path

from pyama_dask.cli import main
from pyama_dask.synthetic import SyntheticSpec
from pyama_dask.synthetic.acquisition import simulate_acquisition


def test_info_reads_a_folder_by_its_file_name_pattern(tmp_path: Path, capsys) -> None:
    spec = SyntheticSpec(n_fovs=2, n_frames=2, size=128, n_cells=1)
    path = simulate_acquisition(tmp_path / "acq", spec, "tiff-folder", 0, partial=None)
    for file in list(path.glob("*.tif")):
        file.rename(path / file.name.replace("_Position", "@s").replace("_time", "@t"))
    assert main(["info", str(path)]) == 2  # no known naming
    assert "not a recognised input" in capsys.readouterr().err
    pattern = r"(?P<channel>[^@]+)@s(?P<position>\d+)@t(?P<time>\d+)\.tif"
    assert main(["info", str(path), "--pattern", pattern, "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert (meta["file_type"], meta["n_fovs"], meta["n_frames"], meta["file_pattern"]) == ("pattern-series", 2, 2,
                                                                                        pattern)
    assert sorted(meta["channel_names"]) == sorted(spec.channel_names)
