"""Terminal presentation of a run: one progress bar per step and a summary table."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from tqdm import tqdm

from pyama_dask.pipeline.tasks import STEPS
from pyama_dask.pipeline.context import Channels
from pyama_dask.workflow.run import ProgressEvent


def tasks_per_fov(channels: Channels) -> dict[str, int]:
    """How many tasks of each step one FOV has."""
    n_fl = len(channels.fl)
    return {"copy": 1 + n_fl, "segment": 1, "correct": n_fl, "track": 1, "extract": n_fl}


class RunProgress:
    """Progress callback that drives one tqdm bar per step and collects a summary.

    Parameters
    ----------
    fovs
        The FOVs of the run.
    channels
        Channel roles (they fix how many tasks each step has).
    enabled
        False to collect the summary without drawing bars.
    """

    def __init__(self, fovs: Sequence[int], channels: Channels, *, enabled: bool = True):
        per_fov = tasks_per_fov(channels)
        width = max(len(s) for s in STEPS)
        self.bars = {
            step: tqdm(total=per_fov[step] * len(fovs), desc=step.ljust(width), unit="task", position=i,
                       disable=not enabled or per_fov[step] == 0, leave=True, dynamic_ncols=True)
            for i, step in enumerate(STEPS)
        }
        self.fovs = list(fovs)
        self.seconds: dict[str, float] = defaultdict(float)
        self.tracks: dict[int, int] = {}
        self.cells: dict[int, dict[int, int]] = defaultdict(dict)
        self.failed: dict[int, str] = {}
        self.skipped = 0

    def __call__(self, event: ProgressEvent) -> None:
        self.bars[event.step].update(1)
        self.seconds[event.step] += event.seconds
        self.skipped += event.status == "skipped"
        if event.status == "failed":
            self.failed[event.fov] = f"{event.step}: {event.error}"
        if event.step == "track" and "tracks" in event.summary:
            self.tracks[event.fov] = event.summary["tracks"]
        if event.step == "extract" and "cells" in event.summary:
            self.cells[event.fov][event.channel] = event.summary["cells"]

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()

    def summary(self) -> str:
        """A plain-text table: FOVs done/failed, cells per FOV, seconds per step."""
        lines = [f"FOVs: {len(self.fovs) - len(self.failed)} done, {len(self.failed)} failed"
                 + (f" ({self.skipped} tasks already complete, skipped)" if self.skipped else "")]
        lines.append(f"{'fov':>5}  {'tracks':>6}  traces kept (cells) per channel")
        for fov in self.fovs:
            if fov in self.failed:
                lines.append(f"{fov:>5}  FAILED  {self.failed[fov]}")
                continue
            cells = ", ".join(f"ch{c}: {n}" for c, n in sorted(self.cells[fov].items())) or "-"
            tracks = self.tracks.get(fov, "-")
            lines.append(f"{fov:>5}  {tracks!s:>6}  {cells}")
        lines.append("seconds per step (summed over tasks): "
                     + ", ".join(f"{s} {self.seconds[s]:.1f}" for s in STEPS))
        return "\n".join(lines)
