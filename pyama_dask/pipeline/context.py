"""The run's context, with PyAMA-core's names so its users feel at home."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ChannelPath = tuple[int, Path]


@dataclass
class Channels:
    """Channel roles: the channel segmented (``pc``, phase contrast as a rule) and the channels measured (``fl``).

    The segmented channel may be measured too: a fluorescence-only movie
    (a nuclear marker, a reporter) is segmented and measured on the same channel.
    """

    pc: int = 0
    fl: list[int] = field(default_factory=list)


@dataclass
class ResultsPathsPerFOV:
    """Where each output of one FOV lives, as ``(channel, location)`` pairs.

    Image locations point into the Zarr store (an OME-NGFF image group, e.g.
    ``out/pyama.zarr/fov_000/seg_ch_0``; ``fl_corrected`` groups hold the
    background model, read with :func:`pyama_dask.io.corrected.open_corrected`);
    trace locations are CSV files. Outputs of the segmented channel are one
    pair, those of fluorescence channels a list of pairs. The attributes are
    PyAMA-core's; outputs of further steps are kept in ``extra`` under their
    results key. ``processing_results.yaml`` records the locations relative
    to the output directory (:mod:`pyama_dask.rundir.results`).
    """

    pc: ChannelPath | None = None
    fl: list[ChannelPath] = field(default_factory=list)
    seg: ChannelPath | None = None
    seg_labeled: ChannelPath | None = None
    fl_corrected: list[ChannelPath] = field(default_factory=list)
    traces_csv: list[ChannelPath] = field(default_factory=list)
    extra: dict[str, ChannelPath | list[ChannelPath]] = field(default_factory=dict)

    def add(self, key: str, channel: int, location: Path, *, single: bool) -> None:
        """Record output ``key`` of ``channel``: the one pair of ``key`` when ``single``, else one more pair."""
        pair = (channel, Path(location))
        if key not in _SEED_KEYS:
            if single:
                self.extra[key] = pair
            else:
                self.extra.setdefault(key, []).append(pair)
        elif single:
            setattr(self, key, pair)
        else:
            getattr(self, key).append(pair)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-ready form: ``[channel, "path"]`` pairs, PyAMA-core's keys first."""

        def entry(value: Any) -> Any:
            if isinstance(value, list):
                return [entry(v) for v in value]
            return None if value is None else [int(value[0]), str(value[1])]

        entries = {key: getattr(self, key) for key in _SEED_KEYS} | self.extra
        return {key: entry(value) for key, value in entries.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResultsPathsPerFOV:
        """Inverse of :meth:`to_dict`."""

        def pair(value: list) -> ChannelPath:
            return (int(value[0]), Path(value[1]))

        def parsed(value: Any) -> Any:
            if value is None:
                return None
            is_pair = len(value) == 2 and not isinstance(value[0], list)
            return pair(value) if is_pair else [pair(v) for v in value]

        seed = {key: parsed(value) for key, value in data.items() if key in _SEED_KEYS}
        seed.update({key: seed.get(key) or [] for key in _SEED_KEYS if key not in _SINGLE_KEYS})
        return cls(**seed, extra={key: parsed(v) for key, v in data.items() if key not in _SEED_KEYS})


_SEED_KEYS = tuple(f.name for f in fields(ResultsPathsPerFOV) if f.name != "extra")
_SINGLE_KEYS = frozenset({"pc", "seg", "seg_labeled"})


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
    z
        Of a file with Z: the Z plane processed, or ``"max"`` for each
        frame's maximum projection over Z; None for plane 0.
    fit
        The fit step's settings (:class:`pyama_dask.pipeline.fit_params.FitParams`:
        ``model``, ``min_points``, changes to the model's parameters by name);
        None fits nothing.
    drift_reference
        Plans the register step (drift correction: tracking on
        drift-corrected positions): each frame registered on the
        ``"previous"`` one or the ``"first"``; None registers nothing.
    """

    output_dir: Path
    channels: Channels = field(default_factory=Channels)
    results_paths: dict[int, ResultsPathsPerFOV] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    time_units: str = "min"
    z: int | str | None = None
    fit: dict[str, Any] | None = None
    drift_reference: str | None = None
