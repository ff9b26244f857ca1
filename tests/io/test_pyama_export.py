"""PyAMA's current layout of a run's results: its YAML schema, its wide trace CSVs, its merge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from pyama_dask.cli import main
from pyama_dask.io.pyama_export import WIDE_COLUMNS, export_pyama
from pyama_dask.io.store import ImageRef, open_image
from pyama_dask.io.traces import read_traces_csv

FL = (1, 2)  # the fluorescence channels of tiny_run; phase contrast is channel 0


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    """tiny_run exported to a folder of its own, away from the output directory."""
    return export_pyama(tiny_run, tmp_path_factory.mktemp("pyama") / "for_pyama")


def _channel_csv(out, fov, channel):
    return read_traces_csv(out / f"fov_{fov:03d}" / f"tiny_fov_{fov:03d}_traces_ch_{channel}.csv")


def test_the_results_file_has_pyamas_schema(exported):
    document = yaml.safe_load(exported.read_text())
    assert document["channels"] == {"pc": [0, ["area"]], "fl": [[1, ["intensity_total"]], [2, ["intensity_total"]]]}
    assert document["time_units"] == "min"
    assert list(document["results"]) == ["0", "1", "2"]
    for fov, entry in document["results"].items():
        assert entry["traces"] == f"fov_{int(fov):03d}/tiny_fov_{int(fov):03d}_traces.csv"
        assert (exported.parent / entry["traces"]).is_file()


def test_the_wide_csv_holds_every_channel_of_the_run(tiny_run, exported):
    wide = pd.read_csv(exported.parent / "fov_001" / "tiny_fov_001_traces.csv")
    assert list(wide.columns) == [*WIDE_COLUMNS, "intensity_total_ch_1", "intensity_total_ch_2", "area_ch_0"]
    assert len(wide) > 0 and (wide["fov"] == 1).all()
    assert wide[["cell", "frame"]].equals(wide[["cell", "frame"]].sort_values(["cell", "frame"]))
    by_row = wide.set_index(["cell", "frame"])
    for channel in FL:
        table = _channel_csv(tiny_run, 1, channel).set_index(["cell", "frame"])
        assert sorted(by_row.index) == sorted(table.index)
        np.testing.assert_allclose(by_row.loc[table.index, f"intensity_total_ch_{channel}"],
                                   table["intensity_total"], rtol=1e-6)
        np.testing.assert_allclose(by_row.loc[table.index, "area_ch_0"], table["area"])
        np.testing.assert_allclose(by_row.loc[table.index, "position_x"], table["position_x"], atol=1e-6)


def test_bounding_boxes_enclose_each_cells_pixels(tiny_run, exported):
    wide = pd.read_csv(exported.parent / "fov_002" / "tiny_fov_002_traces.csv")
    labels = open_image(ImageRef(tiny_run, 2, "seg_labeled", 0))
    for row in wide.sample(n=min(len(wide), 20), random_state=0).itertuples():
        rows, columns = np.nonzero(np.asarray(labels[row.frame]) == row.cell)
        assert (row.bbox_x0, row.bbox_y0, row.bbox_x1, row.bbox_y1) == (
            columns.min(), rows.min(), columns.max(), rows.max())
        assert row.bbox_x0 <= row.position_x <= row.bbox_x1 and row.bbox_y0 <= row.position_y <= row.bbox_y1


def _merged_feature(exported, fov, channel, feature):
    """One feature of one FOV as PyAMA's merge tabulates it (its documented rules): good rows, by time and cell."""
    document = yaml.safe_load(exported.read_text())
    wide = pd.read_csv(exported.parent / document["results"][str(fov)]["traces"])
    good = wide[wide["good"]]
    return good[["time", "fov", "cell", f"{feature}_ch_{channel}"]].rename(columns={f"{feature}_ch_{channel}": "value"})


def test_pyamas_merge_finds_every_feature_of_every_fov(tiny_run, exported):
    document = yaml.safe_load(exported.read_text())
    selections = [(document["channels"]["pc"][0], document["channels"]["pc"][1])] + [
        (channel, features) for channel, features in document["channels"]["fl"]]
    for fov in map(int, document["results"]):
        for channel, features in selections:
            for feature in features:
                merged = _merged_feature(exported, fov, channel, feature)
                assert len(merged) > 0 and merged["value"].notna().all(), (fov, channel, feature)
    expected = _channel_csv(tiny_run, 0, 2)
    merged = _merged_feature(exported, 0, 2, "intensity_total")
    np.testing.assert_allclose(merged["value"].sum(), expected.loc[expected["good"], "intensity_total"].sum(),
                               rtol=1e-6)


def test_with_pyama_itself_when_installed(exported, tmp_path):
    """PyAMA's own merge on the export (runs where pyama-core is installed; it is no dependency)."""
    merge = pytest.importorskip("pyama_core.processing.merge.run", reason="PyAMA (pyama-core) is not installed")
    samples = tmp_path / "samples.yaml"
    samples.write_text(yaml.safe_dump({"samples": [{"name": "all", "fovs": "0-2"}]}))
    message = merge.run_merge(samples, exported, tmp_path / "merged")
    written = sorted(path.name for path in (tmp_path / "merged").glob("*.csv"))
    assert written == ["all_area_ch_0.csv", "all_intensity_total_ch_1.csv", "all_intensity_total_ch_2.csv"], message
    tidy = pd.read_csv(tmp_path / "merged" / "all_intensity_total_ch_1.csv", comment="#")
    assert list(tidy.columns) == ["time", "fov", "cell", "value"] and sorted(tidy["fov"].unique()) == [0, 1, 2]


def test_export_command_writes_into_the_output_directory_by_default(tiny_run, capsys):
    assert main(["export", "pyama", str(tiny_run)]) == 0
    assert str(tiny_run / "pyama") in capsys.readouterr().out
    document = yaml.safe_load((tiny_run / "pyama" / "processing_results.yaml").read_text())
    assert list(document["results"]) == ["0", "1", "2"]


def test_export_refuses_the_output_directory_itself_and_folders_without_results(tiny_run, tmp_path, capsys):
    assert main(["export", "pyama", str(tiny_run), "--to", str(tiny_run)]) == 2
    assert "cannot export into" in capsys.readouterr().err
    assert "results_paths" in (tiny_run / "processing_results.yaml").read_text()
    assert main(["export", "pyama", str(tmp_path)]) == 2
    assert f"{tmp_path} holds no processing_results.yaml" in capsys.readouterr().err
