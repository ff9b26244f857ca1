"""The ``pyama-dask`` command: info, run, demo, and clear errors instead of tracebacks."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pyama_dask.cli import main


def test_info_text_on_a_real_nd2(shared_data, capsys):
    assert main(["info", str(shared_data / "arcadia-microscopy-tools" / "example-timelapse.nd2")]) == 0
    out = capsys.readouterr().out
    assert "frames:      53" in out
    assert "0=GFP 488 nm" in out
    assert "pixel size:  0.325 um" in out
    assert "interval:    0.008" in out  # 500 ms in minutes


def test_info_shows_z_planes(shared_data, capsys):
    assert main(["info", str(shared_data / "arcadia-microscopy-tools" / "example-zstack.nd2")]) == 0
    assert "Z planes:    11 (a run reads plane 0 unless given --z N or --z max)" in capsys.readouterr().out


def test_info_warns_when_time_is_the_frame_index(shared_data, capsys):
    assert main(["info", str(shared_data / "laptrack" / "example_images.tif"), "--dim-order", "TYX"]) == 0
    out = capsys.readouterr().out
    assert "(time stamps from frame-index)" in out
    assert "warning:     no time stamps in the file" in out and "the frame index stands in for time" in out


@pytest.mark.parametrize("given, z", [([], None), (["--z", "3"], 3), (["--z", "max"], "max")])
def test_run_takes_a_z_choice(given, z):
    from pyama_dask.cli import build_parser

    assert build_parser().parse_args(["run", "in.nd2", "--out", "out", *given]).z == z


def test_info_json_lists_per_fov_shapes(shared_data, capsys):
    assert main(["info", str(shared_data / "czitools" / "S3_1Pos_2Mosaic_T2_Z3_CH2_sm.czi"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_fovs"] == 3
    assert info["channel_names"] == ["DAPI", "EGFP"]
    assert info["fov_shapes"] == [[2, 122, 295], [2, 64, 64], [2, 237, 352]]
    assert {"file_path", "base_name", "file_type", "height", "width", "n_frames", "n_channels", "timepoints",
            "dtype", "pixel_size_um"} <= set(info)


@pytest.mark.parametrize("args, message", [
    (["info", "/nonexistent/file.nd2"], "/nonexistent/file.nd2"),
    (["run", "/nonexistent/file.nd2", "--out", "{tmp}/out"], "/nonexistent/file.nd2"),
])
def test_bad_input_gives_a_message_not_a_traceback(args, message, tmp_path, capsys):
    code = main([a.format(tmp=tmp_path) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_run_rejects_a_channel_out_of_range(tiny_dataset, tmp_path, capsys):
    code = main(["run", str(tiny_dataset.image_path), "--pc", "0", "--fl", "5", "--out", str(tmp_path / "out")])
    assert code == 2
    assert "fluorescence channel 5 is out of range" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_run_with_config_on_an_existing_scheduler(tiny_dataset, dask_client, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("params:\n  min_trace_length: 4\n")
    out = tmp_path / "out"
    code = main(["run", str(tiny_dataset.image_path), "--pc", "0", "--fl", "1", "--out", str(out), "--fovs", "1-2",
                 "--config", str(config), "--scheduler", dask_client.scheduler.address, "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0
    assert "FOVs: 2 done, 0 failed" in text
    traces = pd.read_csv(out / "fov_002" / "tiny_fov_002_traces_ch_1.csv")
    assert traces.groupby("cell").size().min() >= 4
    assert not (out / "fov_000").exists()


def test_run_with_unknown_parameter_in_config(tiny_dataset, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("params:\n  min_trace_lenght: 4\n")
    code = main(["run", str(tiny_dataset.image_path), "--fl", "1", "--out", str(tmp_path / "o"), "--config", str(config)])
    assert code == 2
    assert "min_trace_lenght" in capsys.readouterr().err
