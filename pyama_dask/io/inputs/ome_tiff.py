"""Reading an OME-TIFF's planes with tifffile alone, for speed.

bioio's OME-TIFF reader validates the whole OME-XML with ome-types each time
a file is opened (about a second for a few hundred planes) and reads planes
through dask (tens of milliseconds each). tifffile maps each OME ``Image`` to
a series of TIFF pages from the same XML in milliseconds and reads a page
straight from the file. :func:`open_ome_tiff_fov` uses it for the files
where both libraries see the same planes: one file holding every plane,
axes among T, C, Z, Y, X, one sample per pixel. For anything else (several
files, modulo axes, RGB samples, missing planes, images without data) it
returns None and the caller goes through bioio.

Mapping the series costs time in proportion to the file's FOVs (over a
second for a thousand), and every task of a run opens one FOV of the same
file: each process keeps its last few files open, mapped (:func:`_mapped_tiff`),
so that a run costs the mapping once per worker rather than once per task.
A file changed since (another size, time or inode) is opened afresh.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import tifffile

from pyama_dask.io.inputs.common import Z_MAX, ZChoice, check_uint16_dtype, check_z, frame_range, location, to_uint16

logger = logging.getLogger(__name__)

_PLANE_AXES = set("TCZ")
#: Files each process keeps open and mapped (the inputs of the runs it serves).
_KEPT_OPEN = 2


@dataclass
class _MappedTiff:
    """An open OME-TIFF, whether tifffile reads it plane for plane as bioio does, and the lock of its reads."""

    tiff: tifffile.TiffFile
    plain: bool
    lock: threading.Lock = field(default_factory=threading.Lock)


_mapped_files: dict[tuple, _MappedTiff] = {}
_mapped_files_lock = threading.Lock()


class OmeTiffFov:
    """One FOV (OME ``Image``, tifffile series) of an open OME-TIFF.

    Use as a context manager, or call :meth:`close`.

    Attributes
    ----------
    n_frames, n_channels, n_z : int
        Sizes of T, C and Z (1 for an axis the image lacks).
    """

    def __init__(self, tiff: tifffile.TiffFile, path: Path, fov: int, lock: threading.Lock | None = None) -> None:
        self._tiff = tiff
        self._lock = lock
        self._path = path
        self._fov = fov
        series = tiff.series[fov]
        self._series = series
        self._plane_axes = series.get_axes(False)[:-3]
        self._plane_shape = series.get_shape(False)[:-3]
        sizes = dict(zip(self._plane_axes, self._plane_shape))
        self.n_frames = sizes.get("T", 1)
        self.n_channels = sizes.get("C", 1)
        self.n_z = sizes.get("Z", 1)
        self.frame_shape = tuple(series.get_shape(False)[-3:-1])

    def read(self, channel: int, frames: slice | None = None, z: ZChoice = 0) -> np.ndarray:
        """(T, H, W) uint16 planes of ``channel`` at Z plane ``z`` (or their maximum over Z), the selected frames only.

        ``channel`` must be in range (the caller checks it).
        """
        where = location(self._path, self._fov, channel)
        check_uint16_dtype(self._series.dtype, where)
        check_z(self._path, self._fov, z, self.n_z)
        selected = frame_range(self._path, self._fov, frames, self.n_frames)
        if z == Z_MAX:  # one frame's Z planes in memory at a time
            planes = np.stack([self._planes([(t, plane) for plane in range(self.n_z)], channel).max(axis=0)
                               for t in selected])
        else:
            planes = self._planes([(t, z) for t in selected], channel)
        return to_uint16(planes, where)

    def _planes(self, frames_and_z: list[tuple[int, int]], channel: int) -> np.ndarray:
        """The planes of ``channel`` at each (frame, Z), read in one call."""
        keys = [self._page_index(t, channel, z) for t, z in frames_and_z]
        if self._lock is None:
            planes = self._tiff.asarray(key=keys, series=self._fov, maxworkers=1)
        else:
            with self._lock:  # the file is shared by the threads of this process
                planes = self._tiff.asarray(key=keys, series=self._fov, maxworkers=1)
        return planes.reshape(len(keys), *self.frame_shape)

    def close(self) -> None:
        """Close the file, unless it is kept open for this process's next tasks (:func:`open_ome_tiff_fov`)."""
        if self._lock is None:
            self._tiff.close()

    def __enter__(self) -> OmeTiffFov:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _page_index(self, frame: int, channel: int, z: int) -> int:
        position = {"T": frame, "C": channel, "Z": z}
        return int(np.ravel_multi_index([position[axis] for axis in self._plane_axes], self._plane_shape))


def open_ome_tiff_fov(path: Path, fov: int) -> OmeTiffFov | None:
    """One FOV of ``path`` for reading with tifffile, or None when bioio must read it.

    None also when ``path`` is no OME-TIFF or ``fov`` is out of range (bioio
    then gives the error). Errors of tifffile on a damaged file propagate.
    The file stays open for the next FOV this process reads from it.
    """
    mapped = _mapped_tiff(path)
    if mapped.plain and 0 <= fov < len(mapped.tiff.series):
        return OmeTiffFov(mapped.tiff, path, fov, mapped.lock)
    return None


def _mapped_tiff(path: Path) -> _MappedTiff:
    """``path`` open and mapped, from this process's last files when it has not changed since."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _mapped_files_lock:
        mapped = _mapped_files.get(key)
        if mapped is None:
            mapped = _mapped_files[key] = _map(path)
            while len(_mapped_files) > _KEPT_OPEN:
                oldest = _mapped_files.pop(next(iter(_mapped_files)))
                with oldest.lock:  # not while a thread reads it
                    oldest.tiff.close()
        return mapped


def _map(path: Path) -> _MappedTiff:
    tiff = tifffile.TiffFile(path)
    try:
        return _MappedTiff(tiff, tiff.is_ome and _plain_ome(tiff))
    except Exception:
        tiff.close()
        raise


@dataclass(frozen=True)
class PlainOmeTiff:
    """What tifffile tells of an OME-TIFF it reads plane for plane as bioio does.

    Attributes
    ----------
    ome_xml : str
        The file's OME-XML.
    fov_sizes : list of dict
        Per FOV, the sizes of T, C, Z, Y and X (1 for an axis it lacks).
    dtype : numpy.dtype
        The pixels' type in FOV 0.
    """

    ome_xml: str
    fov_sizes: list[dict[str, int]]
    dtype: np.dtype


def plain_ome_tiff(path: Path) -> PlainOmeTiff | None:
    """The facts of an OME-TIFF that tifffile maps as bioio does, or None for any other file (bioio must tell)."""
    with tifffile.TiffFile(path) as tiff:
        if not (tiff.is_ome and _plain_ome(tiff)):
            return None
        fovs = [OmeTiffFov(tiff, path, index) for index in range(len(tiff.series))]
        sizes = [{"T": fov.n_frames, "C": fov.n_channels, "Z": fov.n_z, "Y": fov.frame_shape[0],
                  "X": fov.frame_shape[1]} for fov in fovs]
        return PlainOmeTiff(tiff.ome_metadata, sizes, tiff.series[0].dtype)


def ome_tiff_fov_shapes(path: Path) -> list[tuple[int, int, int]] | None:
    """(T, H, W) of every FOV of an OME-TIFF as tifffile maps it, or None when bioio must tell.

    bioio builds a dask array of every plane of a scene to know its shape
    (about half a second per scene of a few hundred planes).
    """
    plain = plain_ome_tiff(path)
    return None if plain is None else [(sizes["T"], sizes["Y"], sizes["X"]) for sizes in plain.fov_sizes]


def _plain_ome(tiff: tifffile.TiffFile) -> bool:
    """Whether tifffile's series are bioio's scenes, plane for plane, all in this file."""
    images = [element for element in ElementTree.fromstring(tiff.ome_metadata) if _local_name(element) == "Image"]
    if len(images) != len(tiff.series):
        logger.debug("%s: %d OME images, %d tifffile series", tiff.filename, len(images), len(tiff.series))
        return False
    for series in tiff.series:
        axes, shape = series.get_axes(False), series.get_shape(False)
        if axes[-3:] != "YXS" or shape[-1] != 1 or not set(axes[:-3]) <= _PLANE_AXES:
            return False
        if any(page is None or page.parent is not tiff for page in series.pages):
            return False
    return True


def _local_name(element: ElementTree.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]
