"""Reading microscopy inputs: their metadata and (T, H, W) uint16 stacks of one FOV and channel.

An input is a file bioio reads (ND2, CZI, OME-TIFF, TIFF, OME-Zarr) or a MetaMorph
multi-file series (:mod:`pyama_dask.io.inputs.metamorph`): a directory of
``<CH>_Position<P>_time<T>.tif`` files, a glob pattern matching some of them, or one
of them standing for its directory.

A FOV is a bioio scene, by position in ``scenes``. Of a file with Z, one Z plane
is read (plane 0 unless told otherwise), or each frame's maximum projection over Z
(``z="max"``), computed one frame at a time.
Readers are opened where the pixels are read, because bioio objects are not
picklable and keep per-scene state: a Dask task receives (path, FOV), opens the
input once with :func:`open_fov_reader` and reads only the frames it needs, block
by block (:func:`read_frames` opens it for one read).

OME-TIFF files whose planes tifffile maps exactly as bioio does are read with
tifffile alone (:mod:`pyama_dask.io.inputs.ome_tiff`): opening one through bioio costs
about a second of OME-XML validation, and each plane tens of milliseconds.
bioio is imported on first use, so a worker that reads only such files never
pays its import (over a second).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import tifffile

from pyama_dask.io.inputs.metamorph import (
    MetaMorphSeries,
    find_series,
    is_glob_pattern,
    is_series_file,
    read_series_frames,
    series_metadata,
)
from pyama_dask.io.inputs.common import (
    MicroscopyError,
    MicroscopyMetadata,
    Z_MAX,
    ZChoice,
    check_index,
    check_uint16_dtype,
    check_z,
    frame_range,
    location,
    require_uniform_shape,
    to_uint16,
)
from pyama_dask.io.inputs.ome_tiff import OmeTiffFov, PlainOmeTiff, ome_tiff_fov_shapes, open_ome_tiff_fov, plain_ome_tiff
from pyama_dask.io.inputs.ome_xml import OmeImages, parse_ome_images
from pyama_dask.io.inputs.timestamps import (
    KNOWN_TIME_UNITS,
    FrameTimes,
    choose_frame_times,
    czi_subblock_minutes,
    nd2_frame_minutes,
    ome_deltat_minutes,
    ome_time_increment_minutes,
    uniform_interval_minutes,
)

if TYPE_CHECKING:
    from bioio import BioImage

__all__ = [
    "FovReader",
    "MicroscopyError",
    "MicroscopyMetadata",
    "input_identity",
    "load_microscopy_file",
    "open_fov_reader",
    "read_frames",
    "read_metadata",
    "require_uniform_shape",
]

logger = logging.getLogger(__name__)

_FILE_TYPES = {
    "bioio_nd2": "nd2",
    "bioio_czi": "czi",
    "bioio_ome_tiff": "ome-tiff",
    "bioio_tifffile": "tiff",
    "bioio_ome_zarr": "ome-zarr",
}
_ZARR_MARKERS = ("zarr.json", ".zattrs", ".zgroup")
_MULTI_SUFFIXES = (".ome.tiff", ".ome.tif", ".ome.zarr")
_STANDARD_DIMS = "TCZYX"
_DIM_ORDER_LETTERS = set("TCZYXS")


def load_microscopy_file(
    path: str | Path, dim_order: str | None = None, pattern: str | None = None
) -> tuple[BioImage | MetaMorphSeries, MicroscopyMetadata]:
    """Open a microscopy input and read its metadata.

    Parameters
    ----------
    path : str or Path
        A file bioio reads, an OME-Zarr directory, or a MetaMorph series (its
        directory, a glob pattern, or one of its files).
    dim_order : str, optional
        Axis order forced on a plain TIFF whose axes bioio guesses wrong, e.g.
        ``"TYX"`` for a frame stack reported as Z. The TIFF is then read with
        bioio-tifffile.
    pattern : str, optional
        Of a folder of per-plane TIFFs: the regular expression naming its files
        (:mod:`pyama_dask.io.inputs.plane_files`); by default MetaMorph's or
        Micro-Manager's naming, whichever the files follow.

    Returns
    -------
    image : BioImage or MetaMorphSeries
        The opened input (a BioImage is left at scene 0).
    metadata : MicroscopyMetadata

    Raises
    ------
    MicroscopyError
        Missing, empty, unsupported, truncated or unreadable input.
    """
    path = Path(path)
    image = _open(path, dim_order, pattern)
    if isinstance(image, MetaMorphSeries):
        return image, series_metadata(image, pattern)
    with _library_errors(str(path), "read the metadata"):
        return image, _bioio_metadata(image, path, dim_order)


def read_metadata(path: str | Path, dim_order: str | None = None, pattern: str | None = None) -> MicroscopyMetadata:
    """Metadata of a microscopy input; see :func:`load_microscopy_file`.

    A plain OME-TIFF's (one file, planes as bioio sees them, the 2016-06
    schema, known time units) is read from its OME-XML with the standard
    library: the same facts as bioio's, without importing bioio and
    ome-types (over a second).
    """
    if dim_order is None and pattern is None:
        metadata = _plain_ome_tiff_metadata(Path(path))
        if metadata is not None:
            return metadata
    return load_microscopy_file(path, dim_order, pattern)[1]


def _plain_ome_tiff_metadata(path: Path) -> MicroscopyMetadata | None:
    """The metadata of a plain OME-TIFF, as `_bioio_metadata` gives it; None for any other input."""
    if path.suffix.lower() not in (".tif", ".tiff") or not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        plain = plain_ome_tiff(path)
        ome = None if plain is None else parse_ome_images(plain.ome_xml)
    except Exception as error:  # bioio reads it, or tells what is wrong
        logger.debug("%s: not read as a plain OME-TIFF (%s)", path, error)
        return None
    if ome is None or not _same_as_bioio(plain, ome):
        return None
    pixels = ome.images[0].pixels
    n_frames = pixels.size_t
    times = _chosen_times(path, n_frames, [("ome-deltat", ome_deltat_minutes(ome, 0, n_frames)),
                                           ("ome-time-increment", ome_time_increment_minutes(ome, 0, n_frames)),
                                           ("bioio-interval", None)])  # bioio-ome-tiff has no time_interval
    return MicroscopyMetadata(
        file_path=path,
        base_name=input_base_name(path),
        file_type="ome-tiff",
        height=pixels.size_y,
        width=pixels.size_x,
        n_frames=n_frames,
        n_fovs=len(ome.images),
        n_channels=pixels.size_c,
        timepoints=times.minutes,
        channel_names=[channel.id if channel.name is None else channel.name for channel in pixels.channels],
        dtype=np.dtype(plain.dtype).name,
        pixel_size_um=pixels.physical_size_x,
        time_source=times.source,
        fov_names=[image.id for image in ome.images],
        fov_shapes=[(sizes["T"], sizes["Y"], sizes["X"]) for sizes in plain.fov_sizes],
        dim_order=None,
        n_z=pixels.size_z,
        time_notes=list(times.notes),
    )


def _same_as_bioio(plain: PlainOmeTiff, ome: OmeImages) -> bool:
    """Whether the OME-XML tells what bioio reads from it: the sizes of the planes, every channel, known time units.

    bioio sizes a scene by its OME ``Pixels``; tifffile by the planes it maps.
    A time unit not in :mod:`~pyama_dask.io.inputs.timestamps`'s table is
    left to bioio, which validates it.
    """
    if len(ome.images) != len(plain.fov_sizes):
        return False
    for image, sizes in zip(ome.images, plain.fov_sizes):
        pixels = image.pixels
        if ((pixels.size_t, pixels.size_c, pixels.size_z, pixels.size_y, pixels.size_x)
                != tuple(sizes[axis] for axis in "TCZYX") or len(pixels.channels) != pixels.size_c):
            return False
        units = {plane.delta_t_unit.value for plane in pixels.planes} | {pixels.time_increment_unit.value}
        if not units <= KNOWN_TIME_UNITS:
            return False
    return True


class FovReader(Protocol):
    """One FOV of an open input, as :func:`open_fov_reader` gives it."""

    def read(self, channel: int, frames: slice | None = None, z: ZChoice = 0) -> np.ndarray:
        """(T, H, W) uint16 stack of ``channel``, the selected frames only (all when None).

        ``z`` is the Z plane read, or ``"max"`` for each frame's maximum over Z.
        """


@contextmanager
def open_fov_reader(path: str | Path, fov: int, dim_order: str | None = None,
                    pattern: str | None = None) -> Iterator[FovReader]:
    """Open an input once to read blocks of frames of one FOV.

    Parameters
    ----------
    path : str or Path
        The input, as given to :func:`read_metadata`.
    fov : int
        FOV (scene) index.
    dim_order, pattern : str, optional
        As given to :func:`read_metadata`.

    Yields
    ------
    FovReader
        ``reader.read(channel, frames, z)`` returns a (T, H, W) uint16 stack.

    Raises
    ------
    MicroscopyError
        Bad input or FOV out of range (on opening); channel or Z plane out of
        range, frames selecting nothing, float pixels or values outside
        0..65535 (on reading).
    """
    path = Path(path)
    tiff_fov = _open_ome_tiff_fov(path, fov) if dim_order is None else None
    if tiff_fov is not None:
        with tiff_fov:
            yield _CheckedOmeTiffFov(tiff_fov, path, fov)
        return
    image = _open(path, dim_order, pattern)
    if isinstance(image, MetaMorphSeries):
        check_index(image.source, "FOV", fov, len(image.positions), image.fov_names)
        yield _SeriesFov(image, fov)
        return
    yield _BioImageFov(image, path, fov)


def read_frames(
    path: str | Path, fov: int, channel: int, frames: slice | None = None, dim_order: str | None = None,
    z: ZChoice = 0, pattern: str | None = None,
) -> np.ndarray:
    """(T, H, W) uint16 stack of one FOV and channel, reading only the selected frames.

    Parameters
    ----------
    path : str or Path
        The input, as given to :func:`read_metadata`.
    fov, channel : int
        FOV (scene) and channel index.
    frames : slice, optional
        Frames to read; all when None.
    dim_order : str, optional
        As given to :func:`read_metadata`.
    z : int or "max"
        Z plane to read, or ``"max"`` for each frame's maximum over Z.
    pattern : str, optional
        As given to :func:`read_metadata`.

    Raises
    ------
    MicroscopyError
        Bad input, FOV/channel/Z out of range, frames selecting nothing, float pixels
        or values outside 0..65535 (uint16 required).
    """
    with open_fov_reader(path, fov, dim_order, pattern) as reader:
        return reader.read(channel, frames, z)


class _SeriesFov:
    def __init__(self, series: MetaMorphSeries, fov: int) -> None:
        self._series = series
        self._fov = fov

    def read(self, channel: int, frames: slice | None = None, z: ZChoice = 0) -> np.ndarray:
        check_z(self._series.source, self._fov, z, 1)  # a MetaMorph series has no Z
        return read_series_frames(self._series, self._fov, channel, frames)


class _BioImageFov:
    def __init__(self, image: BioImage, path: Path, fov: int) -> None:
        with _library_errors(str(path), "open the file"):
            check_index(path, "FOV", fov, len(image.scenes), [str(scene) for scene in image.scenes])
            image.set_scene(fov)
        self._image = image
        self._path = path
        self._fov = fov

    def read(self, channel: int, frames: slice | None = None, z: ZChoice = 0) -> np.ndarray:
        with _library_errors(location(self._path, self._fov, channel), "read the pixels"):
            return _read_bioio_frames(self._image, self._path, self._fov, channel, frames, z)


class _CheckedOmeTiffFov:
    """An OME-TIFF FOV read by tifffile; a channel out of range is left to bioio's message."""

    def __init__(self, tiff_fov: OmeTiffFov, path: Path, fov: int) -> None:
        self._tiff_fov = tiff_fov
        self._path = path
        self._fov = fov

    def read(self, channel: int, frames: slice | None = None, z: ZChoice = 0) -> np.ndarray:
        if not (isinstance(channel, (int, np.integer)) and 0 <= channel < self._tiff_fov.n_channels):
            return _BioImageFov(_open_bioimage(self._path, None), self._path, self._fov).read(channel, frames, z)
        with _library_errors(location(self._path, self._fov, channel), "read the pixels"):
            return self._tiff_fov.read(channel, frames, z)


def _open_ome_tiff_fov(path: Path, fov: int) -> OmeTiffFov | None:
    """The tifffile reader of an OME-TIFF's FOV, or None to go through bioio."""
    if not (path.suffix.lower() in (".tif", ".tiff") and path.is_file() and path.stat().st_size):
        return None
    if not isinstance(fov, (int, np.integer)) or isinstance(fov, bool):
        return None
    try:
        return open_ome_tiff_fov(path, int(fov))
    except Exception as error:  # damaged or unusual files: bioio reads them or says what is wrong
        logger.debug("%s: tifffile cannot read it (%s); using bioio", path, error)
        return None


def input_identity(path: str | Path) -> dict[str, Any]:
    """What identifies an input's content cheaply: its files' names, sizes and modification times.

    Used to tell whether outputs in a store were made from this very input. A
    directory (OME-Zarr, MetaMorph series) or glob pattern stands for every file
    under it.
    """
    path = Path(path)
    if is_glob_pattern(path):
        members = sorted(find_series(path).files.values())
    elif path.is_dir():
        members = sorted(p for p in path.rglob("*") if p.is_file())
    else:
        members = [path]
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in members]
    return {"input": str(path), "files": stats}


@contextmanager
def _library_errors(where: str, action: str) -> Iterator[None]:
    """Re-raise what a reader library throws as a MicroscopyError naming the input."""
    try:
        yield
    except MicroscopyError:
        raise
    except Exception as error:  # readers throw ValueError, RuntimeError, OSError, KeyError... on damaged files
        raise MicroscopyError(
            f"{where}: cannot {action} ({type(error).__name__}: {error}); the file may be truncated or damaged"
        ) from error


def _open(path: Path, dim_order: str | None, pattern: str | None = None) -> BioImage | MetaMorphSeries:
    if is_glob_pattern(path) and not path.exists():
        return _open_series(path, dim_order, pattern)
    if not path.exists():
        raise MicroscopyError(f"{path}: no such file or directory")
    if (path.is_dir() and not _is_zarr(path)) or (path.is_file() and is_series_file(path)):
        return _open_series(path, dim_order, pattern)
    if pattern is not None:
        raise MicroscopyError(f"{path}: a file name pattern ({pattern!r}) applies to a folder of per-plane TIFFs only")
    if path.is_file() and path.stat().st_size == 0:
        raise MicroscopyError(f"{path}: the file is empty (0 bytes)")
    return _open_bioimage(path, dim_order)


def _open_series(path: Path, dim_order: str | None, pattern: str | None) -> MetaMorphSeries:
    if dim_order is not None:
        raise MicroscopyError(f"{path}: dim_order={dim_order!r} applies to plain TIFF files, not to a MetaMorph series")
    return find_series(path, pattern)


def _is_zarr(path: Path) -> bool:
    return path.suffix.lower() == ".zarr" or any((path / marker).exists() for marker in _ZARR_MARKERS)


def _open_bioimage(path: Path, dim_order: str | None) -> BioImage:
    from bioio import BioImage
    from bioio_base.exceptions import UnsupportedFileFormatError

    readers, options = _reader_choice(path, dim_order)
    with _library_errors(str(path), "open the file"):
        try:
            return BioImage(path, reader=readers, **options)
        except UnsupportedFileFormatError as error:
            raise MicroscopyError(_unsupported_message(path, readers)) from error


def _reader_choice(path: Path, dim_order: str | None) -> tuple[list[type] | None, dict]:
    """Readers to try (None: bioio picks by extension) and their options.

    Only the plugins named are imported: the OME-Zarr one alone takes ~0.6 s
    (zarr, s3fs), which a TIFF's reading need not wait for.
    """
    if dim_order is not None:
        _check_dim_order(path, dim_order)
        return [_plugin_reader("bioio_tifffile")], {"dim_order": dim_order}
    if path.is_dir():
        return [_plugin_reader("bioio_ome_zarr")], {}
    if path.suffix.lower() in (".tif", ".tiff"):
        # Naming the reader spares bioio's plugin search, which parses the
        # OME-XML once more (~0.2 s for 4 FOVs x 60 frames), and for a plain
        # TIFF a failed bioio-ome-tiff attempt (and its warning) on every read.
        if _is_ome_tiff(path):
            return [_plugin_reader("bioio_ome_tiff"), _plugin_reader("bioio_tifffile")], {}
        return [_plugin_reader("bioio_tifffile")], {}
    return None, {}


def _plugin_reader(plugin: str) -> type:
    """The ``Reader`` class of a bioio plugin package, imported now."""
    return importlib.import_module(plugin).Reader


def _check_dim_order(path: Path, dim_order: str) -> None:
    letters = set(dim_order)
    if not (letters <= _DIM_ORDER_LETTERS and len(letters) == len(dim_order) and {"Y", "X"} <= letters):
        raise MicroscopyError(
            f"{path}: dim_order {dim_order!r} must use each of T, C, Z, Y, X, S at most once and include Y and X"
        )


def _is_ome_tiff(path: Path) -> bool:
    try:
        with tifffile.TiffFile(path) as tiff:
            return tiff.is_ome
    except (OSError, ValueError) as error:
        raise MicroscopyError(f"{path}: not a readable TIFF file ({error})") from error


def _unsupported_message(path: Path, readers: list[type] | None) -> str:
    if readers is not None:
        kind = "OME-Zarr" if path.is_dir() else "TIFF"
        return f"{path}: not a readable {kind} (bioio's reader rejects it); it may be truncated or damaged"
    from bioio.plugins import get_plugins

    extensions = sorted(get_plugins(use_cache=True))
    if any(path.name.lower().endswith(extension) for extension in extensions):
        return (
            f"{path}: not a valid {path.suffix} file: no bioio reader for {path.suffix} accepts it; "
            "it may be truncated, damaged or of another format"
        )
    return (
        f"{path}: unsupported format {path.suffix or '(no extension)'!r}: readable are "
        f"{', '.join(extensions)} files and MetaMorph series directories"
    )


def _bioio_metadata(image: BioImage, path: Path, dim_order: str | None) -> MicroscopyMetadata:
    plugin = type(image.reader).__module__.split(".")[0]
    file_type = _FILE_TYPES.get(plugin, plugin)
    fov_names = [str(scene) for scene in image.scenes]
    fov_shapes = _fov_shapes(image, path, file_type, len(fov_names))
    n_frames, height, width = fov_shapes[0]
    times = _frame_times(image, file_type, path, n_frames)
    return MicroscopyMetadata(
        file_path=path,
        base_name=input_base_name(path),
        file_type=file_type,
        height=height,
        width=width,
        n_frames=n_frames,
        n_fovs=len(fov_names),
        n_channels=image.dims.C,
        timepoints=times.minutes,
        channel_names=[str(name) for name in image.channel_names],
        dtype=np.dtype(image.dtype).name,
        pixel_size_um=_pixel_size_um(image, file_type, path),
        time_source=times.source,
        fov_names=fov_names,
        fov_shapes=fov_shapes,
        dim_order=dim_order,
        n_z=image.dims.Z,
        time_notes=list(times.notes),
    )


def _fov_shapes(image: BioImage, path: Path, file_type: str, n_fovs: int) -> list[tuple[int, int, int]]:
    """(T, H, W) of every scene; the image is left at scene 0.

    tifffile gives a plain OME-TIFF's shapes at once, where bioio builds a dask
    array of every plane of each scene.
    """
    shapes = _plain_ome_tiff_shapes(path) if file_type == "ome-tiff" else None
    image.set_scene(0)
    first = _scene_shape(image, path, 0)
    if shapes is not None and len(shapes) == n_fovs and shapes[0] == first:
        return shapes
    shapes = [first]
    for index in range(1, n_fovs):
        image.set_scene(index)
        shapes.append(_scene_shape(image, path, index))
    image.set_scene(0)
    return shapes


def _plain_ome_tiff_shapes(path: Path) -> list[tuple[int, int, int]] | None:
    try:
        return ome_tiff_fov_shapes(path)
    except Exception as error:  # tifffile cannot map it: bioio tells each scene's shape
        logger.debug("%s: tifffile cannot map its series (%s)", path, error)
        return None


def _scene_shape(image: BioImage, path: Path, index: int) -> tuple[int, int, int]:
    """(T, H, W) of the current scene; MicroscopyError for axes beyond TCZYX (RGB samples, tiles)."""
    dims = image.dims
    extra = {name: size for name, size in zip(dims.order, dims.shape) if name not in _STANDARD_DIMS and size > 1}
    if extra:
        raise MicroscopyError(
            f"{path}, FOV {index} ({image.current_scene!r}): unsupported axes {extra}; "
            "one grey-level sample per pixel is required (no RGB, no unstitched tiles)"
        )
    return (dims.T, dims.Y, dims.X)


def input_base_name(path: Path) -> str:
    """The input's name without its extension(s) (``.ome.tiff``, ``.ome.zarr``...)."""
    name = path.name
    for suffix in _MULTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _pixel_size_um(image: BioImage, file_type: str, path: Path) -> float | None:
    size = image.physical_pixel_sizes.X
    if size is None or (file_type == "tiff" and not _tiff_has_length_unit(path, image.current_scene_index)):
        return None
    return float(size)


def _tiff_has_length_unit(path: Path, series_index: int) -> bool:
    """False when the TIFF's resolution has no unit: bioio then reports a meaningless 1 um."""
    with tifffile.TiffFile(path) as tiff:
        if tiff.is_imagej:
            return str((tiff.imagej_metadata or {}).get("unit", "")).lower() not in ("", "pixel", "pixels")
        unit = tiff.series[series_index].pages[0].tags.get("ResolutionUnit")
        return unit is not None and unit.value != tifffile.RESUNIT.NONE


# A time source: (image, path, frames of FOV 0) -> minutes per frame, or None.
_TimeSource = Callable[["BioImage", Path, int], "list[float] | None"]


def _frame_times(image: BioImage, file_type: str, path: Path, n_frames: int) -> FrameTimes:
    """Minutes since the first frame of FOV 0, channel 0, from every source the file has, in order of trust."""
    return _chosen_times(path, n_frames, ((source, _try_source(read, image, path, source, n_frames))
                                          for source, read in _time_sources(file_type)))


def _chosen_times(path: Path, n_frames: int, candidates: Iterable[tuple[str, list[float] | None]]) -> FrameTimes:
    """The time stamps of the first of ``(source, minutes or None)`` that has them; what disagrees is logged."""
    times = choose_frame_times(candidates, n_frames)
    for note in times.notes:
        logger.warning("%s: %s", path, note)
    return times


def _try_source(read: _TimeSource, image: BioImage, path: Path, source: str,
                n_frames: int) -> list[float] | None:
    try:
        return read(image, path, n_frames)
    except Exception as error:  # optional metadata: a reader failing on it must not fail the file
        logger.warning("%s: could not read time stamps from %s (%s: %s)", path, source, type(error).__name__, error)
        return None


def _time_sources(file_type: str) -> list[tuple[str, _TimeSource]]:
    """The time sources a file type may carry, in the order of :mod:`pyama_dask.io.inputs.timestamps`."""
    ome = [("ome-deltat", _ome_deltat), ("ome-time-increment", _ome_time_increment)]
    specific = {
        "nd2": ome + [("nd2-frame-times", _nd2_frames)],
        "ome-tiff": ome,
        "czi": [("ome-time-increment", _ome_time_increment), ("czi-subblock", _czi_subblocks)],
    }
    return specific.get(file_type, []) + [("bioio-interval", _bioio_interval)]


def _ome_deltat(image: BioImage, path: Path, n_frames: int) -> list[float] | None:
    return ome_deltat_minutes(image.ome_metadata, image.current_scene_index, n_frames)


def _ome_time_increment(image: BioImage, path: Path, n_frames: int) -> list[float] | None:
    return ome_time_increment_minutes(image.ome_metadata, image.current_scene_index, n_frames)


def _nd2_frames(image: BioImage, path: Path, n_frames: int) -> list[float] | None:
    return nd2_frame_minutes(str(path), image.current_scene_index, n_frames)


def _czi_subblocks(image: BioImage, path: Path, n_frames: int) -> list[float] | None:
    return czi_subblock_minutes(image.reader.acquisition_times, n_frames)


def _bioio_interval(image: BioImage, path: Path, n_frames: int) -> list[float] | None:
    interval = image.time_interval
    if interval is not None and not isinstance(interval, timedelta):
        # bioio-ome-zarr gives a bare number in the axis's unit; its standard metadata converts it.
        interval = image.standard_metadata.timelapse_interval
    return uniform_interval_minutes(interval, n_frames)


def _read_bioio_frames(image: BioImage, path: Path, fov: int, channel: int, frames: slice | None,
                       z: ZChoice) -> np.ndarray:
    check_index(path, "channel", channel, image.dims.C, [str(name) for name in image.channel_names])
    where = location(path, fov, channel)
    check_uint16_dtype(image.dtype, where)
    check_z(path, fov, z, image.dims.Z)
    selected = frame_range(path, fov, frames, image.dims.T)
    # Synchronous: inside a Dask worker task the read must not go back to the cluster.
    if z == Z_MAX:  # one frame's Z planes in memory at a time
        stack = np.stack([image.get_image_dask_data("ZYX", C=channel, T=t).max(axis=0).compute(scheduler="synchronous")
                          for t in selected])
    else:
        stack = image.get_image_dask_data("TYX", C=channel, Z=z, T=list(selected)).compute(scheduler="synchronous")
    return to_uint16(stack, where)
