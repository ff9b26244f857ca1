"""Terminal presentation of a run: one progress bar per step and a summary table."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from tqdm import tqdm

from pyama_dask.pipeline.context import Channels
from pyama_dask.pipeline.steps import FLUORESCENCE, STEPS, tasks_per_fov
from pyama_dask.workflow.run import ProgressEvent


class RunProgress:
    """Progress callback that drives one tqdm bar per step of the step table and collects a summary.

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
        # What the steps with a summary key reported: step -> FOV -> channel -> value.
        self.reported: dict[str, dict[int, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
        self.failed: dict[int, str] = {}
        self.skipped = 0

    def __call__(self, event: ProgressEvent) -> None:
        self.bars[event.step].update(1)
        self.seconds[event.step] += event.seconds
        self.skipped += event.status == "skipped"
        if event.status == "failed":
            self.failed[event.fov] = f"{event.step}: {event.error}"
        key = STEPS[event.step].summary
        if key in event.summary:
            self.reported[event.step][event.fov][event.channel] = event.summary[key]

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()

    def summary(self) -> str:
        """A plain-text table: FOVs done/failed, what each step with a summary reported per FOV, seconds per step.

        A step of the segmented channel gets a column of its own; a step of
        the fluorescence channels one value per channel in the last column.
        """
        reporting = [step for step in STEPS.values() if step.summary]
        single = [step for step in reporting if FLUORESCENCE not in step.writes]
        per_channel = [step for step in reporting if FLUORESCENCE in step.writes]
        lines = [f"FOVs: {len(self.fovs) - len(self.failed)} done, {len(self.failed)} failed"
                 + (f" ({self.skipped} tasks already complete, skipped)" if self.skipped else "")]
        header = [f"{'fov':>5}"] + [f"{step.summary:>6}" for step in single]
        header += [f"{step.summary_label or step.summary} per channel" for step in per_channel]
        lines.append("  ".join(header))
        for fov in self.fovs:
            if fov in self.failed:
                lines.append(f"{fov:>5}  FAILED  {self.failed[fov]}")
                continue
            row = [f"{fov:>5}"]
            for step in single:
                value = next(iter(self.reported[step.name][fov].values()), "-")
                row.append(f"{value!s:>6}")
            for step in per_channel:
                values = self.reported[step.name][fov]
                row.append(", ".join(f"ch{c}: {n}" for c, n in sorted(values.items())) or "-")
            lines.append("  ".join(row))
        lines.append("seconds per step (summed over tasks): "
                     + ", ".join(f"{s} {self.seconds[s]:.1f}" for s in STEPS))
        return "\n".join(lines)

