"""Tables of a benchmark's results (Markdown), its summary, and the README's copy of them.

Everything here works on the JSON-ready results document that
:mod:`benchmarks.suite` writes, so a saved document can be shown again.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

from benchmarks.machine import describe
from pyama_dask.pipeline.steps import STEPS

README_BEGIN = "<!-- benchmarks:begin (written by `python -m benchmarks --update-readme`) -->"
README_END = "<!-- benchmarks:end -->"
#: The steps of a run, in the step table's order (``graph``, the tracks written as geff, after ``track``).
STEP_ORDER = tuple(STEPS)
MB = 1e6

#: The issue's targets on the default dataset with 2 workers.
TARGET_MEGAPIXELS_PER_S = 45.0
TARGET_OVERHEAD = 0.10
TARGET_PEAK_RSS_MB = 600.0
TARGET_OUTPUT_RATIO = 1.0

#: The floors (key of a round's results -> name): the algorithms alone in
#: memory, the workflow's own tasks writing the store, and those tasks in
#: several plain processes side by side; none uses Dask.
FLOORS = {"serial": "algorithms floor", "serial_tasks": "tasks floor", "parallel_tasks": "parallel tasks floor"}
STORAGE_RATIO = "storage: tasks floor over algorithms floor"


def overhead_ratio(workers: int, floor: str) -> str:
    """Name of the ratio: run time of ``workers`` workers, excluding start-up, over a floor's share, minus 1.

    A floor's share is its time x its processes / ``workers``.
    """
    return f"{workers} worker(s) over the {FLOORS[floor]} x processes / {workers}, excl. start-up"


def summarise(rounds: list[dict[str, Any]], megapixels: float, input_bytes: int) -> dict[str, Any]:
    """Medians over the alternating rounds, and the ratios taken within each round.

    Parameters
    ----------
    rounds
        One dict per round: ``serial`` (a SerialRun dict, optional) and
        ``dask`` (worker count as a string -> DaskRun dict).
    megapixels
        Pixels of the dataset, millions.
    input_bytes
        Size of the input file.
    """
    counts = sorted({int(n) for rnd in rounds for n in rnd["dask"]})
    runs: dict[str, Any] = {}
    for n in counts:
        measured = [rnd["dask"][str(n)] for rnd in rounds if str(n) in rnd["dask"]]
        end_to_end = _median(measured, "end_to_end_s")
        run_s = _median(measured, "run_s")
        runs[str(n)] = {
            "end_to_end_s": end_to_end,
            "run_s": run_s,
            "startup_s": _median(measured, "startup_s"),
            "megapixels_per_s": megapixels / end_to_end,
            "megapixels_per_s_excluding_startup": megapixels / run_s,
            "peak_rss_mb": max(max(run["peak_rss"]) for run in measured) / MB,
            "baseline_rss_mb": max(max(run["baseline_rss"]) for run in measured) / MB,
            "memory_limit_mb": min(min(run.get("memory_limit") or [0]) for run in measured) / MB,
            "busy_fraction": _median(measured, "busy_fraction"),
            "worker_cpu_s": statistics.median(sum(run["worker_cpu_s"]) for run in measured),
            "driver_cpu_s": _median(measured, "driver_cpu_s"),
            "step_seconds": {step: statistics.median(run["step_seconds"].get(step, 0.0) for run in measured)
                             for step in STEP_ORDER},
            "output_bytes": measured[-1]["output_bytes"],
            "output_ratio": sum(measured[-1]["output_bytes"].values()) / input_bytes,
            "ok": all(run["ok"] for run in measured),
        }
    summary: dict[str, Any] = {"dask": runs}
    for floor in FLOORS:
        measured = [rnd[floor] for rnd in rounds if rnd.get(floor)]
        if measured:
            summary[floor] = {
                "seconds": _median(measured, "seconds"),
                "cpu_s": _median(measured, "cpu_s"),
                "peak_rss_mb": max(run["peak_rss"] for run in measured) / MB,
                "processes": measured[0].get("processes", 1),
            }
            summary[floor]["megapixels_per_s"] = megapixels / summary[floor]["seconds"]
    ratios: dict[str, float] = {}
    if len(counts) > 1:
        low, high = str(counts[0]), str(counts[-1])
        ratios[f"speed-up {low} -> {high} workers"] = _round_ratio(
            rounds, lambda r: r["dask"][low]["end_to_end_s"] / r["dask"][high]["end_to_end_s"])
        ratios[f"speed-up {low} -> {high} workers, excl. start-up"] = _round_ratio(
            rounds, lambda r: r["dask"][low]["run_s"] / r["dask"][high]["run_s"])
    if "serial" in summary and "serial_tasks" in summary:
        ratios[STORAGE_RATIO] = _round_ratio(rounds, lambda r: r["serial_tasks"]["seconds"] / r["serial"]["seconds"] - 1)
    for floor, name in FLOORS.items():
        processes = summary.get(floor, {}).get("processes", 1)
        for n in counts if floor in summary else []:
            if processes > 1 and n != processes:
                continue  # a parallel floor stands for as many workers as it has processes
            key = str(n)

            def share(r: dict[str, Any], floor: str = floor, n: int = n) -> float:
                return r[floor]["seconds"] * r[floor].get("processes", 1) / n

            ratios[overhead_ratio(n, floor)] = _round_ratio(rounds, lambda r: r["dask"][key]["run_s"] / share(r) - 1)
            ratios[f"{key} worker(s) over the {name} x processes / {key}, end to end"] = _round_ratio(
                rounds, lambda r: r["dask"][key]["end_to_end_s"] / share(r) - 1)
            ratios[f"CPU time of {key} worker(s) + driver over the {name}'s"] = _round_ratio(
                rounds, lambda r: (sum(r["dask"][key]["worker_cpu_s"]) + r["dask"][key]["driver_cpu_s"])
                / r[floor]["cpu_s"] - 1)
    summary["ratios"] = ratios
    return summary


def targets(summary: dict[str, Any], workers: int = 2) -> list[tuple[str, str, str, bool]]:
    """(target, wanted, measured, met) of the issue's run-level targets, at ``workers`` workers."""
    run = summary["dask"].get(str(workers))
    if run is None:
        return []
    rows = [
        ("throughput end to end", f">= {TARGET_MEGAPIXELS_PER_S:.0f} MP/s", f"{run['megapixels_per_s']:.1f} MP/s",
         run["megapixels_per_s"] >= TARGET_MEGAPIXELS_PER_S),
        ("throughput excluding cluster start-up", f">= {TARGET_MEGAPIXELS_PER_S:.0f} MP/s",
         f"{run['megapixels_per_s_excluding_startup']:.1f} MP/s",
         run["megapixels_per_s_excluding_startup"] >= TARGET_MEGAPIXELS_PER_S),
    ]
    wanted = f"<= {TARGET_OVERHEAD:.0%}"
    for floor, what in (("parallel_tasks", f"Dask over the same tasks in {workers} plain processes"),
                        ("serial_tasks", "Dask over the tasks floor / workers"),
                        ("serial", "storage + Dask over the algorithms floor / workers")):
        overhead = summary["ratios"].get(overhead_ratio(workers, floor))
        if overhead is not None:
            rows.append((what, wanted, f"{overhead:+.0%}", overhead <= TARGET_OVERHEAD))
    rows += [
        ("peak memory per worker", f"<= {TARGET_PEAK_RSS_MB:.0f} MB", f"{run['peak_rss_mb']:.0f} MB",
         run["peak_rss_mb"] <= TARGET_PEAK_RSS_MB),
        ("output size / input size", f"<= {TARGET_OUTPUT_RATIO:.1f}", f"{run['output_ratio']:.2f}",
         run["output_ratio"] <= TARGET_OUTPUT_RATIO),
    ]
    return rows


def markdown(results: dict[str, Any]) -> str:
    """The whole report: machine, dataset, runs, ratios, targets, steps, output, sweeps."""
    dataset = results["dataset"]
    summary = results["summary"]
    spec = dataset["spec"]
    machine = results["machine"]
    lines = [
        f"Machine: {describe(machine)}; load average {machine['load_average'][0]:.1f} at the start, "
        f"{results['load_after'][0]:.1f} at the end. {results['started']}.",
        "",
        f"Dataset: {spec['n_fovs']} FOVs x {spec['n_frames']} frames x {spec['size']} px x "
        f"{1 + spec['n_fluorescence']} channels ({dataset['megapixels']:.0f} megapixels, "
        f"{dataset['input_bytes'] / MB:,.0f} MB OME-TIFF), {dataset['cells_per_fov']} cells per FOV; "
        f"batch_size {results['batch_size']}; median of {results['repeat']} alternating round(s).",
        "",
        *_runs_table(summary),
        "",
        *_ratio_lines(summary),
        "",
        *_targets_table(summary),
        "",
        *_steps_table(summary),
        "",
        *_output_table(summary, dataset["input_bytes"]),
    ]
    for name, points in results.get("sweeps", {}).items():
        lines += ["", *_sweep_table(name, points)]
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, block: str) -> None:
    """Replace the marked benchmark block of ``readme`` (appended under "Performance" when absent)."""
    text = readme.read_text()
    content = f"{README_BEGIN}\n{block.rstrip()}\n{README_END}"
    pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: content, text)
    else:
        text = text.rstrip() + f"\n\n## Performance\n\n{content}\n"
    readme.write_text(text)


def _median(runs: list[dict[str, Any]], name: str) -> float:
    return statistics.median(run[name] for run in runs)


def _round_ratio(rounds: list[dict[str, Any]], ratio) -> float:
    values = []
    for rnd in rounds:
        try:
            values.append(ratio(rnd))
        except (KeyError, TypeError):  # a round without one of the runs compared
            continue
    return statistics.median(values) if values else float("nan")


def _runs_table(summary: dict[str, Any]) -> list[str]:
    rows = ["| run | end to end s | MP/s | excl. start-up s | MP/s excl. start-up | start-up s "
            "| CPU s: workers + driver | peak RSS per worker MB | workers busy |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for floor, label in (("serial", "algorithms floor (1 process, no Dask, no store)"),
                         ("serial_tasks", "tasks floor (1 process, no Dask, same store)"),
                         ("parallel_tasks", "tasks floor in {} processes side by side")):
        serial = summary.get(floor)
        if serial:
            label = label.format(serial["processes"])
            rows.append(f"| {label} | {serial['seconds']:.1f} | {serial['megapixels_per_s']:.1f} "
                        f"| {serial['seconds']:.1f} | {serial['megapixels_per_s']:.1f} | - | {serial['cpu_s']:.1f} "
                        f"| {serial['peak_rss_mb']:.0f} | - |")
    for n, run in summary["dask"].items():
        rows.append(f"| Dask, {n} worker{'s' if n != '1' else ''} | {run['end_to_end_s']:.1f} "
                    f"| {run['megapixels_per_s']:.1f} | {run['run_s']:.1f} "
                    f"| {run['megapixels_per_s_excluding_startup']:.1f} | {run['startup_s']:.1f} "
                    f"| {run['worker_cpu_s']:.1f} + {run['driver_cpu_s']:.1f} "
                    f"| {run['peak_rss_mb']:.0f} (idle {run['baseline_rss_mb']:.0f}{_limit(run)}) "
                    f"| {run['busy_fraction']:.0%} |")
    return rows


def _limit(run: dict[str, Any]) -> str:
    limit = run.get("memory_limit_mb")
    return f", limit {limit:,.0f}" if limit else ""


def _ratio_lines(summary: dict[str, Any]) -> list[str]:
    return [f"- {name}: {value:.2f}x" if name.startswith("speed-up") else f"- {name}: {value:+.0%}"
            for name, value in summary["ratios"].items()]


def _targets_table(summary: dict[str, Any]) -> list[str]:
    rows = ["| target (2 workers) | wanted | measured | met |", "|---|---|---|---|"]
    for name, wanted, measured, met in targets(summary):
        rows.append(f"| {name} | {wanted} | {measured} | {'yes' if met else 'no'} |")
    return rows


def _steps_table(summary: dict[str, Any]) -> list[str]:
    counts = list(summary["dask"])
    header = "| step | " + " | ".join(f"{n} worker{'s' if n != '1' else ''}: task s" for n in counts) + " |"
    rows = [header, "|---|" + "---:|" * len(counts)]
    for step in STEP_ORDER:
        # .get: a document saved before a step existed has no figure of it.
        cells = " | ".join(f"{summary['dask'][n]['step_seconds'].get(step, 0.0):.1f}" for n in counts)
        rows.append(f"| {step} | {cells} |")
    totals = " | ".join(f"{sum(summary['dask'][n]['step_seconds'].values()):.1f}" for n in counts)
    rows.append(f"| all (worker compute time) | {totals} |")
    return rows


def _output_table(summary: dict[str, Any], input_bytes: int) -> list[str]:
    run = summary["dask"][list(summary["dask"])[-1]]
    sizes = run["output_bytes"]
    rows = ["| output | MB | of input |", "|---|---:|---:|"]
    for kind, size in sorted(sizes.items(), key=lambda item: -item[1]):
        rows.append(f"| {kind} | {size / MB:,.1f} | {size / input_bytes:.1%} |")
    total = sum(sizes.values())
    rows.append(f"| all | {total / MB:,.1f} | {total / input_bytes:.1%} |")
    return rows


def _sweep_table(name: str, points: list[dict[str, Any]]) -> list[str]:
    rows = [f"Sweep over {name} (Dask, {points[0]['run']['n_workers']} workers):", "",
            f"| {name} | megapixels | end to end s | MP/s | MP/s excl. start-up | peak RSS per worker MB "
            "| output / input |",
            "|---:|---:|---:|---:|---:|---:|---:|"]
    for point in points:
        run, megapixels = point["run"], point["megapixels"]
        rows.append(f"| {point['value']} | {megapixels:.0f} | {run['end_to_end_s']:.1f} "
                    f"| {megapixels / run['end_to_end_s']:.1f} | {megapixels / run['run_s']:.1f} "
                    f"| {max(run['peak_rss']) / MB:.0f} "
                    f"| {sum(run['output_bytes'].values()) / point['input_bytes']:.2f} |")
    return rows
