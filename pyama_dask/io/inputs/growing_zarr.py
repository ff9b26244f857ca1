"""A growing OME-Zarr image (NGFF 0.4 on Zarr v2, or 0.5 on Zarr v3) whose T axis grows.

FOVs are the root's ``multiscales`` images (the scenes the batch reader gives),
each read at its full resolution; channels are named by ``omero``. The axes are
``t, (c), (z), y, x`` in any order the metadata gives. Acquisition software grows
the array's shape along T and writes the time point's chunks, in either order, or
gives the array the planned number of time points from the start (pymmcore-plus);
what the data holds decides which frames are complete: a frame counts when every
chunk of it (all channels, Z planes and tiles) is present, unchanged for
``settle_seconds`` and decodes, even beyond the shape the metadata states. This
needs one time point per chunk: a chunk holding several time points is rewritten
as they come, and which of them are written cannot be told from the data.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import ShardingCodec

from pyama_dask.io.inputs.common import (
    MicroscopyError,
    MicroscopyMetadata,
    Z_MAX,
    ZChoice,
    check_index,
    check_uint16_dtype,
    check_z,
    location,
    to_uint16,
)
from pyama_dask.io.inputs.growing import GrowingSource, Landed
from pyama_dask.io.inputs.microscopy import input_base_name
from pyama_dask.io.inputs.timestamps import FrameTimes, choose_frame_times, uniform_interval_minutes

logger = logging.getLogger(__name__)

# NGFF time units (UDUNITS names) in seconds; a T axis without a unit counts in seconds, as the batch reader takes it.
_SECONDS_PER_TIME_UNIT = {None: 1.0, "millisecond": 0.001, "second": 1.0, "minute": 60.0, "hour": 3600.0,
                          "day": 86400.0}
_REQUIRED_AXES = ("t", "y", "x")
_OPTIONAL_AXES = ("c", "z")  # without c: one channel; without z: one plane


@dataclass(frozen=True)
class _Image:
    """One FOV: a ``multiscales`` entry's full-resolution array, its axes and its scale."""

    name: str
    array_path: str
    axes: tuple[str, ...]
    units: dict[str, str | None]
    scale: tuple[float, ...]


class GrowingOmeZarr(GrowingSource):
    """An OME-Zarr whose T axis grows; see :mod:`pyama_dask.io.inputs.growing`.

    Parameters
    ----------
    path : Path
        The OME-Zarr directory (it may not exist yet).
    **options
        ``poll_interval``, ``use_events``, ``settle_seconds`` of :class:`GrowingSource`.
    """

    layout = "ome-zarr"

    def __init__(self, path: Path, **options: float | bool) -> None:
        self._images: list[_Image] = []
        self._channel_names: tuple[str, ...] = ()
        self._arrays: dict[int, zarr.Array] = {}
        self._frames: dict[int, int] = {}
        super().__init__(path, **options)

    def _watched_folders(self) -> list[tuple[Path, bool]]:
        # The root and the arrays' folders, not the chunks' sub-folders: one inotify watch each of thousands of
        # chunk folders would exhaust the system's watches. A grown shape shows in an array's metadata; chunks
        # announced by it are looked for again shortly (GrowingSource.wait). The end marker may lie next to the Zarr.
        arrays = [(self.path / image.array_path, False) for image in self._images]
        return [(self.path, False), *arrays, (self.path.parent, False)]

    def scan(self) -> Landed:
        """What has landed now (see :class:`~pyama_dask.io.inputs.growing.Landed`)."""
        self.files.begin_scan()
        ended = self.end_marker_present()
        self._read_root()
        for fov in range(len(self._images)):
            array = self._open_array(fov)
            if array is None:  # metadata being rewritten, or the array not created yet: next scan
                continue
            count = self._frames.get(fov, 0)
            while self._frame_complete(fov, array, count):
                count += 1
            self._frames[fov] = count
            if count < array.shape[self._images[fov].axes.index("t")]:
                self.files.expect_soon()
        return Landed(
            fovs=tuple(range(len(self._images))),
            channels=self._channel_names if self._names_final() else (),
            frames={fov: self._frames.get(fov, 0) for fov in range(len(self._images))},
            ended=ended,
            problems=self.files.problems,
        )

    def frame_ref(self, fov: int, t: int, channel: int) -> ZarrPlaneRef:
        """The array, time point and channel of a landed frame."""
        check_index(self.path, "FOV", fov, len(self._images), [image.name for image in self._images])
        check_index(self.path, "channel", channel, len(self._channel_names), list(self._channel_names))
        if not 0 <= t < self._frames.get(fov, 0):
            raise MicroscopyError(f"{location(self.path, fov, channel)}: frame {t} has not landed "
                                  f"({self._frames.get(fov, 0)} frame(s) have)")
        image = self._images[fov]
        return ZarrPlaneRef(self.path / image.array_path, image.axes, t, fov, channel, self._n_z(fov))

    def metadata(self) -> MicroscopyMetadata:
        """The batch reader's metadata of the frames landed so far.

        Raises
        ------
        MicroscopyError
            When no frame has landed yet.
        """
        n_frames = self._frames.get(0, 0)
        if not n_frames:
            raise MicroscopyError(f"{self.path}: no frame of the first FOV has landed yet")
        times = self._times(n_frames)
        height, width = self._plane_shape(0)
        dtype = self._arrays[0].dtype
        return MicroscopyMetadata(
            file_path=self.path,
            base_name=input_base_name(self.path),
            file_type="ome-zarr",
            height=height,
            width=width,
            n_frames=n_frames,
            n_fovs=len(self._images),
            n_channels=len(self._channel_names),
            timepoints=times.minutes,
            channel_names=list(self._channel_names),
            dtype=np.dtype(dtype).name,
            pixel_size_um=self._images[0].scale[self._images[0].axes.index("x")],
            time_source=times.source,
            fov_names=[image.name for image in self._images],
            fov_shapes=[(self._frames.get(fov, 0), *self._plane_shape(fov if fov in self._arrays else 0))
                        for fov in range(len(self._images))],
            n_z=self._n_z(0),
            time_notes=list(times.notes),
        )

    def frame_times(self, fov: int, n: int) -> list[float]:
        """Minutes of frames 0..n-1 from the first FOV's T scale and unit, as the batch reader takes them for every FOV."""
        check_index(self.path, "FOV", fov, len(self._images), [image.name for image in self._images])
        return self._times(n).minutes

    def _times(self, n_frames: int) -> FrameTimes:
        image = self._images[0]
        factor = _SECONDS_PER_TIME_UNIT.get(image.units.get("t"))
        interval = None if factor is None else image.scale[image.axes.index("t")] * factor
        minutes = uniform_interval_minutes(None if interval is None else timedelta(seconds=interval), n_frames)
        return choose_frame_times([("bioio-interval", minutes)], n_frames)

    # -- reading the metadata -------------------------------------------------------------------------

    def _read_root(self) -> None:
        """FOVs and channel names from the root's attributes; unchanged while they cannot be read (being written)."""
        attributes = _root_attributes(self.path)
        if attributes is None:
            return
        ome = attributes.get("ome", attributes)
        multiscales = ome.get("multiscales") or []
        if len(multiscales) < len(self._images):
            return  # being rewritten: FOVs do not disappear
        images = [_image(self.path, index, multiscale) for index, multiscale in enumerate(multiscales)]
        self._images = _named(images)
        channels = (ome.get("omero") or {}).get("channels")
        if channels and not self._names_final():
            self._channel_names = tuple(str(channel.get("label", "")) for channel in channels)

    def _names_final(self) -> bool:
        """Whether the channel names are settled: a frame has landed, so the writer wrote its metadata long before.

        (Zarr writes a group's attributes one at a time: ``multiscales`` may be there before ``omero``.)
        """
        return any(self._frames.values())

    def _open_array(self, fov: int) -> zarr.Array | None:
        image = self._images[fov]
        try:
            array = zarr.open_array(self.path / image.array_path, mode="r")
        except (OSError, ValueError, KeyError, TypeError) as error:  # missing, or its metadata half-written
            logger.debug("%s: array %s not readable now (%s)", self.path, image.array_path, error)
            return None
        _check_followable(self.path, image, array)
        if not self._channel_names:
            self._channel_names = _default_channel_names(image.name, _n_channels(image, array))
        self._arrays[fov] = array
        return array

    def _plane_shape(self, fov: int) -> tuple[int, int]:
        image, array = self._images[fov], self._arrays[fov]
        return array.shape[image.axes.index("y")], array.shape[image.axes.index("x")]

    def _n_z(self, fov: int) -> int:
        image = self._images[fov]
        return self._arrays[fov].shape[image.axes.index("z")] if "z" in image.axes else 1

    # -- completeness -----------------------------------------------------------------------------------

    def _frame_complete(self, fov: int, array: zarr.Array, t: int) -> bool:
        """Whether every chunk of frame ``t`` (all channels) is present, settled and decodes."""
        return all(self._channel_complete(fov, array, t, channel)
                   for channel in range(_n_channels(self._images[fov], array)))

    def _channel_complete(self, fov: int, array: zarr.Array, t: int, channel: int) -> bool:
        chunk_files = self._chunk_files(fov, array, t, channel)
        stats = {}
        for path in chunk_files:
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                return False
            stats[path] = (stat.st_size, stat.st_mtime_ns)
        pending = [path for path, stat in stats.items() if not self.files.verified(path, stat)]
        if not pending:
            return True
        if not all(self.files.settled(path, stats[path]) for path in pending):
            return False
        try:
            read_zarr_frame(array, self._images[fov].axes, t, channel, None)
        except Exception as error:  # a codec's error on a damaged chunk is any of many types
            for path in pending:
                self.files.mark_problem(path, stats[path], f"{path}: FOV {fov}, frame {t}, channel {channel}: "
                                                           f"chunk cannot be decoded ({type(error).__name__}: {error})")
            return False
        for path in pending:
            self.files.mark_verified(path, stats[path])
        return True

    def _chunk_files(self, fov: int, array: zarr.Array, t: int, channel: int) -> list[str]:
        """The files of every chunk holding frame ``t`` of ``channel``."""
        image = self._images[fov]
        ranges = []
        for axis, size, chunk in zip(image.axes, array.shape, array.chunks):
            if axis == "t":
                ranges.append([t])
            elif axis == "c":
                ranges.append([channel // chunk])
            else:
                ranges.append(range(math.ceil(size / chunk)))
        folder = self.path / image.array_path
        return [os.fspath(folder / array.metadata.encode_chunk_key(coords)) for coords in itertools.product(*ranges)]


def read_zarr_frame(array: zarr.Array, axes: tuple[str, ...], t: int, channel: int, z: int | None) -> np.ndarray:
    """Frame ``t`` of ``channel``: Z plane ``z`` (Y, X), or all planes (Z, Y, X) when None.

    Read through a view reaching ``t`` beyond the stated shape (chunks written before the shape grew).
    """
    t_axis = axes.index("t")
    if t >= array.shape[t_axis]:
        grown = tuple(t + 1 if axis == t_axis else size for axis, size in enumerate(array.shape))
        current = array._async_array
        array = zarr.Array(type(current)(metadata=dataclasses.replace(current.metadata, shape=grown),
                                         store_path=current.store_path, config=current.config))
    picks = {"t": t, "c": channel, "z": slice(None) if z is None else z}
    return np.asarray(array[tuple(picks.get(axis, slice(None)) for axis in axes)])


@dataclass(frozen=True)
class ZarrPlaneRef:
    """One landed frame of one channel in an OME-Zarr array."""

    array_path: Path
    axes: tuple[str, ...]
    t: int
    fov: int
    channel: int
    n_z: int

    def read(self, z: ZChoice = 0) -> np.ndarray:
        """The frame, 2-D uint16: Z plane ``z`` or the maximum over Z (``"max"``)."""
        check_z(self.array_path, self.fov, z, self.n_z)
        plane = read_zarr_frame(zarr.open_array(self.array_path, mode="r"), self.axes, self.t, self.channel,
                                None if z == Z_MAX else z)
        if plane.ndim == 3:  # every Z plane, for their maximum
            plane = plane.max(axis=0)
        return to_uint16(plane, location(self.array_path, self.fov, self.channel))


def _n_channels(image: _Image, array: zarr.Array) -> int:
    return array.shape[image.axes.index("c")] if "c" in image.axes else 1


def _root_attributes(path: Path) -> dict | None:
    """The root group's attributes (Zarr v3 ``zarr.json`` or v2 ``.zattrs``); None when absent or half-written."""
    for name, key in (("zarr.json", "attributes"), (".zattrs", None)):
        try:
            document = json.loads((path / name).read_text())
        except FileNotFoundError:
            continue
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        return document.get(key, {}) if key else document
    return None


def _image(path: Path, index: int, multiscale: dict) -> _Image:
    axes = tuple(str(axis["name"] if isinstance(axis, dict) else axis).lower() for axis in multiscale.get("axes", []))
    missing = [axis for axis in _REQUIRED_AXES if axis not in axes]
    if missing or set(axes) - {*_REQUIRED_AXES, *_OPTIONAL_AXES}:
        raise MicroscopyError(
            f"{path}: multiscales image {index} has axes {list(axes)}; following an OME-Zarr needs the axes "
            "t, y, x, and optionally c and z"
        )
    units = {str(axis["name"]).lower(): axis.get("unit") for axis in multiscale["axes"] if isinstance(axis, dict)}
    dataset = multiscale["datasets"][0]
    overall = _scale(multiscale.get("coordinateTransformations"), len(axes))
    own = _scale(dataset.get("coordinateTransformations"), len(axes))
    return _Image(str(multiscale.get("name") or ""), dataset["path"], axes, units,
                  tuple(a * b for a, b in zip(overall, own)))


def _scale(transformations: list[dict] | None, n_axes: int) -> list[float]:
    for transformation in transformations or []:
        if transformation.get("type") == "scale":
            return [float(value) for value in transformation["scale"]]
    return [1.0] * n_axes


def _named(images: list[_Image]) -> list[_Image]:
    """Images named as the batch reader names its scenes: their own names when all are given and distinct."""
    names = [image.name for image in images]
    if all(names) and len(set(names)) == len(names):
        return images
    from bioio_ome_zarr.utils import generate_ome_image_id

    return [dataclasses.replace(image, name=generate_ome_image_id(index)) for index, image in enumerate(images)]


def _default_channel_names(scene: str, n_channels: int) -> tuple[str, ...]:
    """The names the batch reader gives channels when ``omero`` names none."""
    from bioio_ome_zarr.utils import generate_ome_channel_id

    return tuple(generate_ome_channel_id(scene, index) for index in range(n_channels))


def _check_followable(path: Path, image: _Image, array: zarr.Array) -> None:
    """MicroscopyError unless one chunk holds one time point and the array is unsharded, with integer pixels."""
    check_uint16_dtype(array.dtype, f"{path}/{image.array_path}")
    if array.chunks[image.axes.index("t")] != 1:
        raise MicroscopyError(
            f"{path}/{image.array_path}: chunks hold {array.chunks[image.axes.index('t')]} time points; following a "
            "growing OME-Zarr needs one time point per chunk (a chunk of several is rewritten as they come, and "
            "which of them are written cannot be told from the data)"
        )
    codecs = getattr(array.metadata, "codecs", ())
    if any(isinstance(codec, ShardingCodec) for codec in codecs):
        raise MicroscopyError(f"{path}/{image.array_path}: sharded arrays cannot be followed as they grow "
                              "(a shard is rewritten as its chunks come); write without shards")

