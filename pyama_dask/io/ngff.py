"""OME-NGFF 0.5 metadata of the store's images, written and read through ome-zarr-py.

Every image is a (T, Y, X) group with one resolution level, the array ``0``,
which :mod:`pyama_dask.io.store` creates itself (with its own chunks and
codecs); this module only writes the metadata that makes the group an NGFF
image: ``multiscales`` (axes in minutes and micrometres, or in pixels when the input
has no pixel size; the level's scale),
the optional ``omero`` rendering metadata of a single channel, and the
``image-label`` block of a label image with its listing in ``labels``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import zarr

#: Axes of every image; time is in minutes, space in micrometres when the pixel size is known.
AXES = ("t", "y", "x")
TIME_UNIT = "minute"
MICROMETER = "micrometer"
#: The single resolution level of an image.
LEVEL = "0"
# Where a label image's source lies: NGFF puts label images in ``<image>/labels/<name>``.
_LABEL_SOURCE = "../../"


# ome-zarr-py is imported on first use: it loads dask.array (half a second), which a driver that plans a
# run and names its outputs never needs; the workers writing images have it preloaded.
def _writer() -> ModuleType:
    import ome_zarr.writer  # noqa: PLC0415

    return ome_zarr.writer


@functools.cache
def _format() -> Any:
    """The NGFF version written (under ``attrs["ome"]``, Zarr v3)."""
    from ome_zarr.format import FormatV05  # noqa: PLC0415

    return FormatV05()


def omero(name: str, label: str, colour: str, dtype: np.dtype) -> dict:
    """NGFF ``omero`` rendering metadata of a single-channel image.

    Parameters
    ----------
    name
        Name of the image.
    label
        Name of the channel, shown by viewers.
    colour
        Display colour, hexadecimal ``RRGGBB``.
    dtype
        Pixel type: the contrast window spans its range until
        :func:`set_contrast_window` narrows it to the data.

    Returns
    -------
    dict
        The ``omero`` block, for :func:`write_image`.
    """
    low, high = _dtype_range(dtype)
    channel = {
        "label": label,
        "color": colour,
        "active": True,
        "coefficient": 1,
        "family": "linear",
        "inverted": False,
        "window": {"min": low, "max": high, "start": low, "end": high},
    }
    return {"name": name, "channels": [channel], "rdefs": {"defaultT": 0, "model": "color"}}


def _dtype_range(dtype: np.dtype) -> tuple[float, float]:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    return 0.0, 1.0


def write_image(group: zarr.Group, name: str, scale: Sequence[float], omero: dict | None = None,
                space_unit: str | None = MICROMETER) -> None:
    """Make ``group`` an NGFF image: ``multiscales`` of its level ``0`` and, given, ``omero``.

    Metadata already in ``attrs["ome"]`` is merged into, not replaced: clear
    it first to rewrite an image.

    Parameters
    ----------
    group
        The image group.
    name
        Name of the image (a group opened at its own path has none).
    scale
        Physical size of one step along (t, y, x) in (minutes, um, um).
    omero
        Rendering metadata from :func:`omero`, or None for none.
    space_unit
        Unit of y and x; None when the pixel size is unknown: the axes then
        carry no unit (they count pixels) and their scale is 1.
    """
    # ome-zarr-py's validation takes Python numbers only, not numpy scalars.
    transforms = [{"type": "scale", "scale": [float(step) for step in scale]}]
    _writer().write_multiscales_metadata(
        group,
        [{"path": LEVEL, "coordinateTransformations": transforms}],
        fmt=_format(),
        axes=list(AXES),
        axes_units={"t": TIME_UNIT} | ({} if space_unit is None else {"y": space_unit, "x": space_unit}),
        name=name,
        metadata={} if omero is None else {"omero": omero},
    )


def write_label(labels: zarr.Group, name: str) -> None:
    """Mark ``labels[name]`` as a label image of the image holding ``labels`` and list it there.

    Parameters
    ----------
    labels
        The ``labels`` group of the source image.
    name
        The label image in it, already an NGFF image (:func:`write_image`).
    """
    _writer().write_label_metadata(labels, name, fmt=_format(), source={"image": _LABEL_SOURCE})
    # ome-zarr-py 0.18 appends the name even when it is listed already (an
    # image made again), and leaves out the version NGFF 0.5 requires of the
    # ``labels`` group's ``ome`` block.
    listed = list(dict.fromkeys(_writer().get_metadata(labels)["labels"]))
    _writer().add_metadata(labels, {"version": _format().version, "labels": listed}, fmt=_format())


def set_contrast_window(group: zarr.Group, start: float, end: float) -> None:
    """Set where the contrast window of an image's (single) ``omero`` channel starts and ends.

    Raises
    ------
    KeyError
        If the image has no ``omero`` metadata.
    """
    rendering = _writer().get_metadata(group)["omero"]
    first, *others = rendering["channels"]
    window = {**first["window"], "start": start, "end": end}
    rendering = {**rendering, "channels": [{**first, "window": window}, *others]}
    _writer().add_metadata(group, {"omero": rendering}, fmt=_format())


def has_omero(group: zarr.Group) -> bool:
    """Whether an image carries ``omero`` rendering metadata."""
    return "omero" in _writer().get_metadata(group)


def channel_label(group: zarr.Group) -> str | None:
    """The name of an image's (first) ``omero`` channel, or None."""
    channels = _writer().get_metadata(group).get("omero", {}).get("channels") or [{}]
    return channels[0].get("label")


def space_unit(group: zarr.Group) -> str | None:
    """The unit of an image's x axis, or None when it has none (pixels)."""
    axes = {axis["name"]: axis for axis in _writer().get_metadata(group)["multiscales"][0]["axes"]}
    return axes["x"].get("unit")


def scale(group: zarr.Group) -> list[float]:
    """Physical size of one step along each axis of an image's level ``0``."""
    datasets = _writer().get_metadata(group)["multiscales"][0]["datasets"]
    # NGFF puts the scale first among a dataset's transformations.
    return list(datasets[0]["coordinateTransformations"][0]["scale"])
