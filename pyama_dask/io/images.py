"""A run's images as labelled lazy arrays, by output directory, FOV, kind and channel.

Every image of the store is an OME-NGFF image group, which other readers open
too, given the group itself. bioio's OME-Zarr reader recognises a path by its
``.zarr`` ending only, so name it::

    from bioio import BioImage
    import bioio_ome_zarr

    image = BioImage("results/pyama.zarr/fov_000/pc_ch_0", reader=bioio_ome_zarr.Reader)
    image.dims                 # T, C, Z, Y, X with C = Z = 1
    labels = BioImage("results/pyama.zarr/fov_000/pc_ch_0/labels/seg_labeled_ch_0", reader=bioio_ome_zarr.Reader)

The store's root holds FOV groups, not images: it has no scenes to open.
"""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr

from pyama_dask.io import store
from pyama_dask.io.corrected import open_corrected

#: Image kinds of a FOV, PyAMA-core's names.
IMAGE_KINDS = ("pc", "fl", "seg", "seg_labeled", "fl_corrected")


def open_image(output_dir: str | Path, fov: int, kind: str, channel: int) -> xr.DataArray:
    """One image of a run as a lazy (t, y, x) array: nothing is read before it is computed.

    Parameters
    ----------
    output_dir
        The run's output directory.
    fov
        Field-of-view index.
    kind
        ``pc``, ``fl`` (raw images), ``seg`` (masks), ``seg_labeled``
        (tracked cell labels) or ``fl_corrected`` (background-corrected
        fluorescence, float32, computed on read).
    channel
        Channel of the input the image derives from (``seg`` and
        ``seg_labeled`` come from the phase-contrast channel).

    Returns
    -------
    xarray.DataArray
        Over a dask array, one chunk per stored chunk (one frame per chunk for
        ``fl_corrected``). Coordinates: ``t`` in minutes (frame index times
        the frame interval of the image's metadata; the traces' ``time``
        column holds each frame's own time stamp), ``y`` and ``x`` in
        micrometres (in pixels, unit None, when the input had no pixel
        size). Attributes: ``channel_name`` (the input's, when
        recorded), ``location`` (the image group) and ``units``.

    Raises
    ------
    ValueError
        For an unknown kind.
    pyama_dask.io.store.StoreError
        If the image is missing or incomplete.
    """
    if kind not in IMAGE_KINDS:
        raise ValueError(f"image kind must be one of {', '.join(IMAGE_KINDS)}, got {kind!r}")
    output_dir = Path(output_dir)
    ref = _raw_image(output_dir, fov, channel) if kind == "fl" else store.ImageRef(output_dir, fov, kind, channel)
    # The corrected image has no NGFF metadata of its own: it is the raw image's, corrected.
    described = _raw_image(ref.output_dir, fov, channel) if kind == "fl_corrected" else ref
    if kind == "fl_corrected":
        stack = open_corrected(ref.location)
        pixels = da.from_array(stack, chunks=(1, *stack.shape[1:]), asarray=False)
    else:
        stack = store.open_image(ref)
        pixels = da.from_array(stack, chunks=stack.chunks)
    minutes, y_um, x_um = store.image_scale(described)
    space_unit = store.image_space_unit(described)
    n_frames, height, width = stack.shape
    return xr.DataArray(
        pixels,
        dims=("t", "y", "x"),
        coords={"t": np.arange(n_frames) * minutes, "y": np.arange(height) * y_um, "x": np.arange(width) * x_um},
        name=ref.name,
        attrs={"channel_name": store.image_channel_name(described), "location": str(ref.location),
               "units": {"t": "minute", "y": space_unit, "x": space_unit}},
    )


def _raw_image(output_dir: Path, fov: int, channel: int) -> store.ImageRef:
    """The raw image of a measured channel: its copy, or the segmented channel's when that channel is measured too."""
    copy, segmented = store.ImageRef(output_dir, fov, "fl", channel), store.ImageRef(output_dir, fov, "pc", channel)
    return segmented if segmented.location.exists() and not copy.location.exists() else copy
