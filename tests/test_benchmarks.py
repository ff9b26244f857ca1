"""The benchmark suite's bookkeeping: output sizes by kind, ratios within rounds, README block (no runs)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.report import (
    README_BEGIN,
    README_END,
    STORAGE_RATIO,
    markdown,
    overhead_ratio,
    summarise,
    update_readme,
)
from benchmarks.outputs import output_bytes
from pyama_dask.pipeline.steps import STEPS


def _file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def test_output_bytes_count_each_file_for_its_innermost_image(tmp_path: Path) -> None:
    _file(tmp_path / "pyama.zarr/fov_000/pc_ch_0/0/c/0/0/0", 100)
    _file(tmp_path / "pyama.zarr/fov_000/pc_ch_0/labels/seg_labeled_ch_0/0/c/0/0/0", 7)
    _file(tmp_path / "pyama.zarr/fov_001/fl_corrected_ch_2/tile_medians/c/0/0/0", 3)
    _file(tmp_path / "fov_000/x_fov_000_traces_ch_1.csv", 20)
    _file(tmp_path / "processing_results.yaml", 5)
    assert output_bytes(tmp_path) == {"pc": 100, "seg_labeled": 7, "fl_corrected": 3, "traces": 20, "other": 5}


def _dask(end_to_end: float, run: float, workers: int) -> dict:
    return {"end_to_end_s": end_to_end, "run_s": run, "startup_s": 1.0, "busy_fraction": 0.9,
            "peak_rss": [300e6] * workers, "baseline_rss": [60e6] * workers, "memory_limit": [2e9] * workers, "worker_cpu_s": [10.0] * workers,
            "driver_cpu_s": 1.0, "step_seconds": {"copy": 1.0}, "output_bytes": {"fl": 40, "pc": 10}, "ok": True,
            "n_workers": workers}


def _floor(seconds: float) -> dict:
    return {"seconds": seconds, "cpu_s": seconds - 1, "peak_rss": 1e9}


def test_ratios_are_taken_within_each_round_then_the_median() -> None:
    rounds = [
        {"serial": _floor(40.0), "serial_tasks": _floor(42.0), "parallel_tasks": {**_floor(20.0), "processes": 2},
         "dask": {"1": _dask(44.0, 42.0, 1), "2": _dask(24.0, 22.0, 2)}},
        # A slower machine in the second round: the ratios barely move.
        {"serial": _floor(80.0), "serial_tasks": _floor(84.0), "parallel_tasks": {**_floor(40.0), "processes": 2},
         "dask": {"1": _dask(88.0, 84.0, 1), "2": _dask(48.0, 44.0, 2)}},
    ]
    summary = summarise(rounds, megapixels=100.0, input_bytes=100)
    assert summary["ratios"]["speed-up 1 -> 2 workers"] == pytest.approx(44 / 24)
    assert summary["ratios"][overhead_ratio(2, "serial")] == pytest.approx(0.1)
    assert summary["ratios"][overhead_ratio(2, "serial_tasks")] == pytest.approx(22 / 21 - 1)
    assert summary["ratios"][STORAGE_RATIO] == pytest.approx(0.05)
    assert summary["ratios"][overhead_ratio(2, "parallel_tasks")] == pytest.approx(0.1)
    assert overhead_ratio(1, "parallel_tasks") not in summary["ratios"]  # stands for 2 workers only
    assert summary["dask"]["2"]["megapixels_per_s"] == pytest.approx(100 / 36)
    assert summary["dask"]["2"]["output_ratio"] == pytest.approx(0.5)


def test_readme_block_is_replaced_or_appended(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# project\n\nintro\n")
    update_readme(readme, "table one\n")
    assert readme.read_text() == f"# project\n\nintro\n\n## Performance\n\n{README_BEGIN}\ntable one\n{README_END}\n"
    readme.write_text(readme.read_text() + "\n## Later section\n")
    update_readme(readme, "table two\n")
    text = readme.read_text()
    assert "table one" not in text and f"{README_BEGIN}\ntable two\n{README_END}" in text
    assert text.endswith("## Later section\n") and text.count("## Performance") == 1


def test_report_names_machine_dataset_and_targets() -> None:
    rounds = [{"serial": _floor(50.0), "serial_tasks": _floor(44.0), "dask": {"2": _dask(24.0, 22.0, 2)}}]
    results = {
        "started": "2026-01-01T00:00:00+00:00",
        "machine": {"cpu": "Test CPU", "usable_cores": 2, "ram_bytes": 8 * 2**30, "load_average": [0.5, 0, 0]},
        "load_after": [1.5, 0, 0],
        "dataset": {"spec": {"n_fovs": 4, "n_frames": 60, "size": 1024, "n_fluorescence": 2},
                    "megapixels": 755.0, "input_bytes": 100, "cells_per_fov": 40},
        "batch_size": 2, "repeat": 1,
        "summary": summarise(rounds, megapixels=755.0, input_bytes=100),
    }
    text = markdown(results)
    assert "Test CPU, 2 cores, 8.0 GiB RAM" in text
    assert "| throughput end to end | >= 45 MP/s | 31.5 MP/s | no |" in text
    assert "| output size / input size | <= 1.0 | 0.50 | yes |" in text
    assert "| Dask over the tasks floor / workers | <= 10% | +0% | yes |" in text
    assert "| storage + Dask over the algorithms floor / workers | <= 10% | -12% | yes |" in text
    assert "| tasks floor (1 process, no Dask, same store) | 44.0 |" in text
    assert "| 300 (idle 60, limit 2,000) |" in text
    # Every step of the table has its row, in its order: the tracks graph after tracking.
    rows = [line.split(" | ")[0].lstrip("| ") for line in text.splitlines() if line.endswith(" |")]
    assert [row for row in rows if row in STEPS] == list(STEPS) and "graph" in STEPS


def test_whole_commands_are_timed_from_process_start_to_exit(tmp_path: Path) -> None:
    from benchmarks.commands import commands_markdown, measure_commands
    from pyama_dask.synthetic import SyntheticSpec

    runs = {"small run": SyntheticSpec(n_fovs=1, n_frames=8, size=256, n_cells=9, n_fluorescence=1, seed=7)}
    baseline = Path(__file__).resolve().parents[1]  # this tree again, as the "before" of a comparison
    measured = measure_commands(tmp_path, repeat=1, pyama_core_python=sys.executable, runs=runs, baseline=baseline)
    timings = {timing["name"]: timing for timing in measured["rounds"][0]}
    names = {"pyama-dask --help", "pyama-dask info", "small run"}
    assert set(timings) == names | {f"{name} (baseline)" for name in names}
    assert 0 < timings["small run (baseline)"]["start_s"] < timings["small run (baseline)"]["wall_s"]
    assert (tmp_path / "runs" / "commands-small-run-baseline" / "processing_results.yaml").is_file()
    run = timings["small run"]
    # The first task starts after the process does, and the process exits after the last task ends.
    assert 0 < run["start_s"] < run["wall_s"] and 0 < run["tail_s"] < run["wall_s"]
    assert timings["pyama-dask --help"]["start_s"] is None
    assert (tmp_path / "runs" / "commands-small-run" / "processing_results.yaml").is_file()
    assert measured["pyama_core"].startswith(f"skipped: {sys.executable} cannot import pyama_core")
    report = commands_markdown(measured)
    assert "| small run |" in report and "PyAMA-core: skipped" in report


def test_a_timed_command_imports_the_project_from_the_tree_it_times(tmp_path: Path) -> None:
    import subprocess

    from benchmarks.commands import in_tree

    other = tmp_path / "other-checkout"
    _file(other / "pyama_dask" / "__init__.py", 0)
    # Started from this checkout (pytest's working directory), as the benchmark is.
    done = subprocess.run([sys.executable, "-c", "import pyama_dask; print(pyama_dask.__file__)"],
                          capture_output=True, text=True, check=True, **in_tree(other))
    assert Path(done.stdout.strip()).resolve() == (other / "pyama_dask" / "__init__.py").resolve()


def test_pyama_core_ratio_is_the_median_of_each_rounds_pair() -> None:
    from benchmarks.commands import PYAMA_CORE_RUN, commands_markdown

    def timing(name: str, wall: float) -> dict:
        return {"name": name, "wall_s": wall, "load": 1.0, "start_s": None, "tail_s": None}

    rounds = [[timing("full run", 10.0), timing(PYAMA_CORE_RUN, 80.0)],
              [timing(PYAMA_CORE_RUN, 90.0), timing("full run", 30.0)],
              [timing("full run", 20.0), timing(PYAMA_CORE_RUN, 100.0)]]
    measured = {"rounds": rounds, "pyama_core": "ran", "compared_with": "full run", "datasets": {"full run": "x"}}
    assert f"{PYAMA_CORE_RUN} / full run: 5.0x (median of 3 alternating pair(s))" in commands_markdown(measured)


def test_many_small_fovs_all_complete_and_status_reads_them(tmp_path: Path) -> None:
    from benchmarks.many_fovs import many_fovs_markdown, run_many_fovs, small_fovs_spec

    run = run_many_fovs(tmp_path, small_fovs_spec(30, n_frames=4, size=96))
    assert run.ok and run.fovs_done == 30
    assert run.status_fovs.startswith("FOVs:       30 done, 0 running, 0 failed, 0 waiting (of 30)")
    out = tmp_path / "runs" / "many-fovs-30"
    assert run.results_bytes == (out / "processing_results.yaml").stat().st_size
    assert run.task_s > 0 and run.driver_peak_rss > 0
    assert "| 30 | 30 |" in many_fovs_markdown([run])
