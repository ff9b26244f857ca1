"""Presentation of a run: progress bars on a terminal, plain lines elsewhere, and a summary table."""

from __future__ import annotations

import logging
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import TextIO

from tqdm import tqdm

from pyama_dask.pipeline.context import Channels
from pyama_dask.pipeline.steps import FLUORESCENCE, STEPS, tasks_per_fov
from pyama_dask.workflow.run import ProgressEvent

logger = logging.getLogger(__name__)

#: Most seconds between two plain progress lines while tasks finish (a line is also printed when a step completes).
LINE_INTERVAL_S = 10.0


def on_terminal() -> bool:
    """True when both stdout and stderr are terminals: bars redrawn in place read well only there.

    CI logs, batch-queue output files and ``| tee`` get plain lines instead.
    """
    return sys.stdout.isatty() and sys.stderr.isatty()


class RunProgress:
    """Progress callback that shows a run's progress and collects its summary.

    On a terminal, one tqdm bar per step of the step table; elsewhere, one
    plain line when a step has finished for every FOV, and at most every
    :data:`LINE_INTERVAL_S` seconds in between.

    Parameters
    ----------
    fovs
        The FOVs of the run.
    channels
        Channel roles (they fix how many tasks each step has).
    enabled
        False to collect the summary without showing progress.
    interactive
        Bars (True) or plain lines (False); by default bars when
        :func:`on_terminal`.
    notes
        Lines said under the summary table, e.g. why no trace was kept.
    stream
        Where plain lines go (default ``sys.stdout``).
    """

    def __init__(self, fovs: Sequence[int], channels: Channels, *, enabled: bool = True,
                 interactive: bool | None = None, notes: Sequence[str] = (), stream: TextIO | None = None):
        per_fov = tasks_per_fov(channels)
        bars = enabled and (on_terminal() if interactive is None else interactive)
        width = max(len(s) for s in STEPS)
        self.bars = {
            step: tqdm(total=per_fov[step] * len(fovs), desc=step.ljust(width), unit="task", position=i,
                       disable=not bars or per_fov[step] == 0, leave=True, dynamic_ncols=True)
            for i, step in enumerate(STEPS)
        }
        self.lines = enabled and not bars
        self.stream = stream
        self.counts: dict[str, int] = defaultdict(int)
        self.started = self.last_line = time.monotonic()
        self.fovs = list(fovs)
        self.notes = list(notes)
        self.seconds: dict[str, float] = defaultdict(float)
        # What the steps with a summary key reported: step -> FOV -> channel -> value.
        self.reported: dict[str, dict[int, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
        # Complete outputs of skipped tasks whose summary is read back when the table is made.
        self.to_recount: dict[tuple[str, int, int], object] = {}
        self.failed: dict[int, str] = {}
        self.skipped = 0

    def __call__(self, event: ProgressEvent) -> None:
        self.bars[event.step].update(1)
        self.counts[event.step] += 1
        self.seconds[event.step] += event.seconds
        self.skipped += event.status == "skipped"
        if event.status == "failed":
            self.failed[event.fov] = f"{event.step}: {event.error}"
        step = STEPS[event.step]
        if step.summary in event.summary:
            self.reported[event.step][event.fov][event.channel] = event.summary[step.summary]
        elif event.status == "skipped" and step.recount and event.output is not None:
            self.to_recount[event.step, event.fov, event.channel] = event.output
        if self.lines:
            self._plain_line(step_finished=self.counts[event.step] == self.bars[event.step].total)

    def _plain_line(self, *, step_finished: bool) -> None:
        now = time.monotonic()
        if not step_finished and now - self.last_line < LINE_INTERVAL_S:
            return
        self.last_line = now
        steps = ", ".join(f"{name} {self.counts[name]}/{bar.total}" for name, bar in self.bars.items() if bar.total)
        done, total = sum(self.counts.values()), sum(bar.total for bar in self.bars.values())
        failed = f", {len(self.failed)} FOV(s) failed" if self.failed else ""
        print(f"progress: {done}/{total} tasks ({steps}){failed}, {now - self.started:.0f} s",
              file=self.stream or sys.stdout, flush=True)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()

    def summary(self) -> str:
        """A plain-text table: FOVs done/failed, what each step with a summary reported per FOV, seconds per step.

        A step of the segmented channel gets a column of its own; a step of
        the fluorescence channels one value per channel in the last column.
        Skipped tasks (a resumed run) show what their outputs hold. The
        notes follow the table.
        """
        self._recount_skipped()
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
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def _recount_skipped(self) -> None:
        """Read the summary of each skipped task from its output (once); an unreadable one stays "-"."""
        for (step, fov, channel), output in self.to_recount.items():
            if fov in self.failed:
                continue
            try:
                self.reported[step][fov][channel] = STEPS[step].recount(output)
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                logger.debug("cannot read the %s of FOV %d, channel %d from %s: %s", step, fov, channel, output, exc)
        self.to_recount.clear()
