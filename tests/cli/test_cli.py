"""The ``pyama-dask`` command: info, run, demo, and clear errors instead of tracebacks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml
from PIL import Image
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
    # No report unless asked for (--performance-report): nothing is rendered after the last task.
    assert not (out / "performance_report.html").exists()
    assert "performance_report" not in yaml.safe_load((out / "processing_results.yaml").read_text())["provenance"]


def test_run_saves_the_performance_report_when_asked(tiny_dataset, dask_client, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", str(tiny_dataset.image_path), "--pc", "0", "--out", str(out), "--fovs", "0",
                 "--scheduler", dask_client.scheduler.address, "--no-progress", "--performance-report"])
    assert code == 0, capsys.readouterr()
    assert "Dask Performance Report" in (out / "performance_report.html").read_text()
    provenance = yaml.safe_load((out / "processing_results.yaml").read_text())["provenance"]
    assert provenance["performance_report"] == "performance_report.html"


def test_run_with_unknown_parameter_in_config(tiny_dataset, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("params:\n  min_trace_lenght: 4\n")
    code = main(["run", str(tiny_dataset.image_path), "--fl", "1", "--out", str(tmp_path / "o"), "--config", str(config)])
    assert code == 2
    assert "min_trace_lenght" in capsys.readouterr().err


def test_run_channels_by_name_and_a_list_of_fovs_on_generated_data(tiny_dataset, dask_client, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("params:\n  min_trace_length: 4\n")
    out = tmp_path / "out"
    code = main(["run", str(tiny_dataset.image_path), "--pc", "phase", "--fl", "MCHERRY", "GFP", "--fovs", "2,0",
                 "--out", str(out), "--config", str(config), "--scheduler", dask_client.scheduler.address,
                 "--no-progress"])
    assert code == 0, capsys.readouterr()
    assert "FOVs: 2 done, 0 failed" in capsys.readouterr().out
    results = yaml.safe_load((out / "processing_results.yaml").read_text())
    assert results["channels"] == {"pc": 0, "fl": [2, 1]}
    assert sorted(int(fov) for fov in results["results_paths"]) == [0, 2]
    for fov in (0, 2):
        for channel in (1, 2):
            assert (out / f"fov_{fov:03d}" / f"tiny_fov_{fov:03d}_traces_ch_{channel}.csv").is_file()
    assert not (out / "fov_001").exists()


def test_run_channels_by_name_on_a_real_nd2(shared_data, dask_client, tmp_path, capsys):
    nd2 = shared_data / "arcadia-microscopy-tools" / "example-cerevisiae.nd2"  # channels DIC, FITC BP
    config = tmp_path / "run.yaml"
    config.write_text("params:\n  min_trace_length: 1\n")
    out = tmp_path / "out"
    code = main(["run", str(nd2), "--pc", "dic", "--fl", "FITC bp", "--out", str(out), "--config", str(config),
                 "--scheduler", dask_client.scheduler.address, "--no-progress"])
    assert code == 0, capsys.readouterr()
    assert "FOVs: 1 done, 0 failed" in capsys.readouterr().out
    traces = pd.read_csv(out / "fov_000" / "example-cerevisiae_fov_000_traces_ch_1.csv")
    assert traces["cell"].nunique() > 0


def test_run_names_an_unknown_channel_of_a_real_nd2_with_the_file_channels(shared_data, tmp_path, capsys):
    nd2 = shared_data / "arcadia-microscopy-tools" / "example-multichannel.nd2"
    code = main(["run", str(nd2), "--pc", "Mono", "--fl", "YFP", "--out", str(tmp_path / "out")])
    assert code == 2
    assert ("fluorescence channel 'YFP' is not a channel name of "
            f"{nd2}; its channels are 0=Mono, 1=DAPI, 2=FITC BP, 3=TRITC BP") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_off_a_terminal_progress_is_plain_lines_and_a_too_long_min_trace_length_is_explained(
        tiny_dataset, dask_client, tmp_path, capsys, caplog):
    out = tmp_path / "out"  # default min_trace_length 30; the movie has 8 frames
    with caplog.at_level("INFO", logger="pyama_dask"):
        code = main(["run", str(tiny_dataset.image_path), "--fl", "GFP", "--fovs", "0", "--out", str(out),
                     "--scheduler", dask_client.scheduler.address])
    captured = capsys.readouterr()
    assert code == 0
    assert "\x1b" not in captured.out + captured.err and "\r" not in captured.out + captured.err
    progress = [line for line in captured.out.splitlines() if line.startswith("progress: ")]
    assert progress[-1].startswith(
        "progress: 7/7 tasks (copy 2/2, segment 1/1, correct 1/1, track 1/1, graph 1/1, extract 1/1)")
    hint = (f"no trace will be kept: min_trace_length is 30 frames and the movie of {tiny_dataset.image_path} has "
            "8 frame(s); set 'min_trace_length: 8'")
    assert any(hint in record.getMessage() for record in caplog.records if record.levelname == "WARNING")
    assert f"note: {hint}" in captured.out
    assert "no fluorescence channel" not in captured.out + captured.err + caplog.text
    assert "lists trace files without rows: no cell was kept (see min_trace_length)" in caplog.text


def test_a_resumed_run_shows_the_tracks_and_traces_of_skipped_fovs(tiny_dataset, dask_client, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("params:\n  min_trace_length: 4\n")
    argv = ["run", str(tiny_dataset.image_path), "--fl", "1", "2", "--fovs", "0-1", "--out", str(tmp_path / "out"),
            "--config", str(config), "--scheduler", dask_client.scheduler.address, "--no-progress"]

    def rows(text):
        return [line.split() for line in text.splitlines() if line.split()[:1] in (["0"], ["1"])]

    assert main(argv) == 0
    first = rows(capsys.readouterr().out)
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "(20 tasks already complete, skipped)" in text
    assert rows(text) == first
    assert [row[0] for row in first] == ["0", "1"] and all(int(row[1]) > 0 and "-" not in row for row in first)


def test_status_piped_into_a_reader_that_stops_reading_ends_quietly(tiny_run):
    # The reader is gone before the command writes: as `pyama-dask status OUT | head` when head has its lines.
    child = subprocess.Popen([sys.executable, "-c", "import sys; from pyama_dask.cli import main; sys.exit(main())",
                              "status", str(tiny_run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    child.stdout.close()
    err = child.stderr.read().decode()
    assert child.wait(timeout=120) == 0
    assert err == ""


def test_a_taken_dashboard_port_gives_our_line_with_the_address_not_distributed_s_warning(
        tiny_dataset, tmp_path, capsys, caplog, recwarn):
    with socket.socket() as taken:
        try:
            taken.bind(("", 8787))
            taken.listen()
        except OSError:
            pass  # taken already, by something else
        with caplog.at_level("INFO", logger="pyama_dask"):
            code = main(["run", str(tiny_dataset.image_path), "--fl", "1", "--fovs", "0", "--workers", "1",
                         "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 0
    dashboard = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Dask dashboard: http")]
    assert len(dashboard) == 1 and ":8787/" not in dashboard[0]
    assert not [w for w in recwarn if "already in use" in str(w.message)]
    assert "already in use" not in capsys.readouterr().err


@pytest.mark.parametrize("text, fovs", [("3", [3]), ("0-2", [0, 1, 2]), ("0-5,7,9-11", [0, 1, 2, 3, 4, 5, 7, 9, 10, 11]),
                                        (" 4 , 1-2", [4, 1, 2])])
def test_fovs_as_pyama_s_tools_write_them(text, fovs):
    from pyama_dask.cli import build_parser

    assert build_parser().parse_args(["run", "in.nd2", "--out", "o", "--fovs", text]).fovs == fovs
    assert build_parser().parse_args(["qc", "o", "--fovs", text]).fovs == fovs


def test_a_huge_fov_range_is_refused_unbuilt(capsys):
    with pytest.raises(SystemExit):
        main(["run", "in.nd2", "--out", "o", "--fovs", "0-99999999999"])
    assert "FOV range 0-99999999999 has more than 100000 FOVs" in capsys.readouterr().err


def test_plain_progress_lines_come_when_a_step_finishes_or_10_s_after_the_last(monkeypatch, capsys):
    import pyama_dask.cli.progress as progress_module
    from pyama_dask.cli.progress import RunProgress
    from pyama_dask.pipeline.context import Channels
    from pyama_dask.workflow.run import ProgressEvent

    clock = [100.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock[0])
    progress = RunProgress([0, 1, 2], Channels(pc=0, fl=[1]), interactive=False)
    for fov in range(3):
        progress(ProgressEvent("copy", fov, 0, "done"))
    assert capsys.readouterr().out == ""  # copy is not finished: 3 of 6 tasks, and no time has passed
    clock[0] += 10.5
    progress(ProgressEvent("segment", 0, 0, "done"))
    progress(ProgressEvent("segment", 1, 0, "done"))
    assert capsys.readouterr().out == ("progress: 4/21 tasks (copy 3/6, segment 1/3, correct 0/3, track 0/3, graph 0/3, "
                                       "extract 0/3), 10 s\n")
    progress(ProgressEvent("segment", 2, 0, "failed", error="boom"))
    assert capsys.readouterr().out == ("progress: 6/21 tasks (copy 3/6, segment 3/3, correct 0/3, track 0/3, graph 0/3, "
                                       "extract 0/3), 1 FOV(s) failed, 10 s\n")


def test_a_real_3_frame_movie_by_channel_names_says_why_no_trace_is_kept_and_draws_a_full_size_qc_frame(
        shared_data, dask_client, tmp_path, capsys):
    folder = shared_data / "rcell2-examples"  # MetaMorph: TFP (transmitted) and YFP, 3 frames of 1392 x 1040 px
    out = tmp_path / "out"
    code = main(["run", str(folder), "--pc", "tfp", "--fl", "YFP", "--out", str(out), "--scheduler",
                 dask_client.scheduler.address, "--no-progress", "--qc"])
    text = capsys.readouterr().out
    assert code == 0
    assert ("note: no trace will be kept: min_trace_length is 30 frames and the movie of "
            f"{folder} has 3 frame(s); set 'min_trace_length: 3'") in text
    with Image.open(out / "qc" / "fov_000_frame.png") as frame:
        assert frame.width >= 1392 and frame.height >= 1040


# Libraries that the command line loads only for the commands that use them.
_HEAVY_MODULES = ("dask", "distributed", "zarr", "ome_zarr", "pydantic", "skimage", "scipy", "pandas", "tqdm", "bioio")
# The workflow's own stack and the readers of other formats, which ``info`` on a TIFF does not use
# (its reader uses dask and pydantic).
_WORKFLOW_MODULES = ("distributed", "zarr", "ome_zarr", "skimage", "tqdm", "pyama_dask.workflow.run",
                     "pyama_dask.io.store", "pyama_dask.algorithms", "bioio_ome_zarr", "s3fs")

# The task functions, the algorithms and the libraries that only they use.
_TASK_MODULES = ("pyama_dask.pipeline.tasks", "pyama_dask.algorithms.segmentation", "pyama_dask.algorithms.tracking",
                 "skimage", "numba", "ome_zarr")


def _imported_by(argv: list[str], modules: tuple[str, ...]) -> list[str]:
    """The ``modules`` that ``pyama-dask ARGV`` has imported when it exits."""
    code = ("import sys\nfrom pyama_dask.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print(' '.join(name for name in {modules!r} if name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()[-1].split()


def test_help_imports_no_heavy_module():
    assert _imported_by(["--help"], _HEAVY_MODULES) == []


def test_info_imports_no_workflow_module(tiny_dataset):
    assert _imported_by(["info", str(tiny_dataset.image_path)], _WORKFLOW_MODULES) == []


def test_a_runs_driver_imports_no_task_nor_algorithm(tiny_dataset, tmp_path):
    # The workers run the tasks (their fork server preloads them); the driver only plans and follows them.
    argv = ["run", str(tiny_dataset.image_path), "--out", str(tmp_path / "out"), "--fl", "1", "--workers", "1",
            "--no-progress"]
    assert _imported_by(argv, _TASK_MODULES) == []


def test_run_help_imports_what_its_options_need():
    assert {"dask", "distributed", "pydantic"} <= set(_imported_by(["run", "--help"], _HEAVY_MODULES))


def test_status_imports_no_heavy_module(tmp_path):
    from pyama_dask.rundir.runlog import append_record, run_log_path

    log = run_log_path(tmp_path)
    append_record(log, "run-start", input_file="in.tif", fovs=[0], n_tasks=1, fov_tasks={0: 1})
    append_record(log, "task", step="copy", fov=0, channel=0, status="done", seconds=0.1, error=None)
    append_record(log, "run-end", ok=True, failed_fovs=[])
    assert _imported_by(["status", str(tmp_path)], _HEAVY_MODULES) == []
    done = subprocess.run([sys.executable, "-m", "pyama_dask", "status", str(tmp_path)], capture_output=True,
                          text=True, check=True)
    assert "FOVs:       1 done, 0 running, 0 failed, 0 waiting (of 1)" in done.stdout
