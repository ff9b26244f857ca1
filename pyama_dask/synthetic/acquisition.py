"""A microscope simulator: the synthetic dataset written frame by frame, as it is acquired.

:func:`simulate_acquisition` writes the pixels of the batch synthetic dataset of
the same spec (:func:`~pyama_dask.synthetic.generate_dataset`) as a microscope
would: all channels of one FOV and time point, FOVs in turn, one time point per
``interval``; one plane is written in two parts with a pause, so that a reader
finds it present before it is complete; the end marker
(:data:`~pyama_dask.io.inputs.growing.END_MARKER`) is written last, in the folder
or the OME-Zarr directory. It stores
per-plane TIFF files (``tiff-folder``, MetaMorph or Micro-Manager naming) or an
OME-Zarr whose T axis grows (``ome-zarr``, NGFF 0.4 or 0.5).
:func:`start_acquisition` runs it in a background thread (tests, demos).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pyama_dask.io.inputs.growing import END_MARKER, LAYOUTS
from pyama_dask.synthetic.acquisition_writers import AcquisitionWriter, OmeZarrWriter, TiffFolderWriter
from pyama_dask.synthetic.cells import simulate_cells
from pyama_dask.synthetic.render import FovRenderer
from pyama_dask.synthetic.spec import SyntheticSpec

logger = logging.getLogger(__name__)

_INTERVAL = re.compile(r"\s*(?P<value>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>ms|s|m|min|h)?\s*")
_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_interval(text: str | float) -> float:
    """Seconds of an interval written as ``5s``, ``0.2s``, ``1m``, ``500ms``, ``2h`` (a bare number: seconds).

    Raises
    ------
    ValueError
        When the text is no such interval.
    """
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = _INTERVAL.fullmatch(text)
        if match is None:
            raise ValueError(f"interval {text!r} must be a number with a unit ms, s, m or h, e.g. 5s, 0.2s, 1m")
        seconds = float(match["value"]) * _SECONDS_PER_UNIT[match["unit"] or "s"]
    if seconds < 0:
        raise ValueError(f"interval {text!r} must not be negative")
    return seconds


def acquisition_path(out: str | Path, layout: str) -> Path:
    """Where the acquisition of ``layout`` lives: the folder ``out``, or for OME-Zarr ``out`` itself (``*.zarr``)."""
    out = Path(out)
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if layout == "ome-zarr" and out.suffix.lower() != ".zarr":
        raise ValueError(f"{out}: an OME-Zarr acquisition's path must end in .zarr (e.g. {out.name}.ome.zarr)")
    return out


def end_marker_path(path: Path) -> Path:
    """The end marker the simulator writes: in the acquisition's folder, or in its OME-Zarr directory.

    (Readers also take one next to the OME-Zarr; inside, it ends this acquisition only.)
    """
    return path / END_MARKER


def simulate_acquisition(
    out: str | Path,
    spec: SyntheticSpec = SyntheticSpec(),
    layout: str = "tiff-folder",
    interval: float | str = 5.0,
    *,
    naming: str = "metamorph",
    ngff_version: str = "0.5",
    growth: str = "shape-first",
    partial: tuple[int, int] | None = (0, 1),
    partial_pause: float | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the synthetic dataset of ``spec`` frame by frame as a microscope acquires it.

    Parameters
    ----------
    out : str or Path
        The folder of TIFF files, or the OME-Zarr (``*.zarr``) to write.
    spec : SyntheticSpec
        What to acquire (the pixels of the batch synthetic dataset of this spec).
    layout : str
        ``"tiff-folder"`` or ``"ome-zarr"``.
    interval : float or str
        Time between the starts of two time points: seconds, or text like ``"5s"``,
        ``"0.2s"``, ``"1m"``. The files' own time stamps follow the spec's
        ``frame_interval_min``, as those of the batch dataset do.
    naming : str
        TIFF file names: ``"metamorph"`` or ``"micro-manager"``.
    ngff_version : str
        OME-Zarr: ``"0.4"`` (Zarr v2) or ``"0.5"`` (Zarr v3).
    growth : str
        OME-Zarr: ``"shape-first"`` or ``"chunks-first"`` (see
        :class:`~pyama_dask.synthetic.acquisition_writers.OmeZarrWriter`).
    partial : (int, int) or None
        The (FOV, time point) whose last channel is written in two parts; the
        time point is clipped to the spec's frames; None: none.
    partial_pause : float, optional
        Seconds between the two parts (default: a quarter of the interval).
    stop : threading.Event, optional
        Set it to stop after the current time point (no end marker is written).
    progress : callable, optional
        Called as ``progress(time_points_done, time_points_total)``.

    Returns
    -------
    Path
        The acquisition's folder or OME-Zarr.
    """
    seconds = parse_interval(interval)
    path = acquisition_path(out, layout)
    writer = _writer(path, spec, layout, naming, ngff_version, growth)
    renderers = [FovRenderer(spec, simulate_cells(spec, fov), fov) for fov in range(spec.n_fovs)]
    partial_point = None if partial is None else (partial[0], min(partial[1], spec.n_frames - 1))
    pause = seconds / 4 if partial_pause is None else partial_pause
    started = time.monotonic()
    behind = False  # said once: a simulated microscope slower than its interval
    for t in range(spec.n_frames):
        _sleep_until(started + t * seconds, stop)
        if stop is not None and stop.is_set():
            logger.info("acquisition %s stopped after %d time point(s)", path, t)
            return path
        for fov, renderer in enumerate(renderers):
            planes, _ = renderer.frame(t)
            partial_channel = len(planes) - 1 if (fov, t) == partial_point else None
            writer.write(fov, t, planes, partial_channel, pause)
        if progress is not None:
            progress(t + 1, spec.n_frames)
        late = time.monotonic() - (started + (t + 1) * seconds)
        if late > 0 and seconds > 0 and not behind:
            behind = True
            logger.warning("acquisition %s: time point %d took %.2f s longer than the %g s interval (rendering and "
                           "writing %d FOV(s)); the next ones start late", path, t, late, seconds, spec.n_fovs)
    end_marker_path(path).write_text(f"{spec.n_fovs} FOV(s), {spec.n_frames} time point(s)\n")
    logger.info("acquisition %s complete: %d FOV(s) x %d time point(s)", path, spec.n_fovs, spec.n_frames)
    return path


def _writer(path: Path, spec: SyntheticSpec, layout: str, naming: str, ngff_version: str,
            growth: str) -> AcquisitionWriter:
    if layout == "ome-zarr":
        return OmeZarrWriter(path, spec, ngff_version, growth)
    return TiffFolderWriter(path, spec, naming)


def _sleep_until(moment: float, stop: threading.Event | None) -> None:
    remaining = moment - time.monotonic()
    if remaining <= 0:
        return
    if stop is None:
        time.sleep(remaining)
    else:
        stop.wait(remaining)


class AcquisitionThread(threading.Thread):
    """:func:`simulate_acquisition` running in the background; :meth:`result` waits and re-raises its error."""

    def __init__(self, out: str | Path, spec: SyntheticSpec, layout: str, interval: float | str,
                 **options: object) -> None:
        super().__init__(name=f"simulated-acquisition-{Path(out).name}", daemon=True)
        self.path = acquisition_path(out, layout)
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self._call = (out, spec, layout, interval, options)

    def run(self) -> None:
        out, spec, layout, interval, options = self._call
        try:
            simulate_acquisition(out, spec, layout, interval, stop=self.stop_event, **options)
        except BaseException as error:  # handed to result(): a thread's error must reach the caller
            self.error = error

    def stop(self) -> None:
        """Stop after the current time point and wait for the thread."""
        self.stop_event.set()
        self.join()

    def result(self, timeout: float | None = None) -> Path:
        """Wait for the acquisition to end; its path, or the error it raised."""
        self.join(timeout)
        if self.is_alive():
            raise TimeoutError(f"acquisition {self.path} still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.path


def start_acquisition(out: str | Path, spec: SyntheticSpec = SyntheticSpec(), layout: str = "tiff-folder",
                      interval: float | str = 5.0, **options: object) -> AcquisitionThread:
    """Start :func:`simulate_acquisition` in a background thread (same arguments); returns the running thread."""
    thread = AcquisitionThread(out, spec, layout, interval, **options)
    thread.start()
    return thread
