"""The run's context, with PyAMA-core's names so its users feel at home."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ChannelPath = tuple[int, Path]


@dataclass
class Channels:
    """Channel roles: one phase-contrast channel and zero or more fluorescence channels."""

    pc: int = 0
    fl: list[int] = field(default_factory=list)


@dataclass
class ResultsPathsPerFOV:
    """Where each output of one FOV lives, as ``(channel, location)`` pairs.

    Image locations point into the Zarr store (an OME-NGFF image group, e.g.
    ``out/pyama.zarr/fov_000/seg_ch_0``; ``fl_corrected`` groups hold the
    background model, read with :func:`pyama_dask.io.corrected.open_corrected`);
    trace locations are CSV files.
    """

    pc: ChannelPath | None = None
    fl: list[ChannelPath] = field(default_factory=list)
    seg: ChannelPath | None = None
    seg_labeled: ChannelPath | None = None
    fl_corrected: list[ChannelPath] = field(default_factory=list)
    traces_csv: list[ChannelPath] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-ready form: ``[channel, "path"]`` pairs."""

        def entry(value: Any) -> Any:
            if isinstance(value, list):
                return [entry(v) for v in value]
            return None if value is None else [int(value[0]), str(value[1])]

        return {f.name: entry(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResultsPathsPerFOV:
        """Inverse of :meth:`to_dict`."""

        def pair(value: list) -> ChannelPath:
            return (int(value[0]), Path(value[1]))

        single = {"pc", "seg", "seg_labeled"}
        return cls(**{
            key: (None if value is None else pair(value)) if key in single else [pair(v) for v in value or []]
            for key, value in data.items()
        })


@dataclass
class ProcessingContext:
    """Configuration of a run and, after it, the outputs it produced.

    Parameters
    ----------
    output_dir
        Directory holding the Zarr store, the trace files and
        ``processing_results.yaml``.
    channels
        Channel roles.
    results_paths
        Outputs per FOV index, filled in by the run.
    params
        Algorithm parameters by name (see :class:`pyama_dask.pipeline.params.Params`);
        missing names take PyAMA-core's defaults.
    time_units
        Unit of the ``time`` column of the traces.
    """

    output_dir: Path
    channels: Channels = field(default_factory=Channels)
    results_paths: dict[int, ResultsPathsPerFOV] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    time_units: str = "min"
