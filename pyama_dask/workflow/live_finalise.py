"""Finalising a followed FOV: its grown images made those of a batch run of the completed data.

A follow run (:mod:`pyama_dask.workflow.live`) ends with every FOV's frames
processed; what needs the whole movie is then done once. Here: the grown
images get the batch run's chunks, time step and contrast windows, the
corrected images are written from their tile medians, and the outputs equal
to the batch run's are recorded complete with its fingerprints, so that the
batch run that follows makes only the rest.
"""

from __future__ import annotations

import logging
from pathlib import Path

import zarr

from pyama_dask.io import ngff
from pyama_dask.io.completion import mark_complete
from pyama_dask.io.corrected import write_corrected
from pyama_dask.io.inputs.microscopy import MicroscopyMetadata, input_identity
from pyama_dask.io.live import read_state, read_tile_medians
from pyama_dask.io.store import ImageRef, chunk_frames, store_path, update_contrast_limits
from pyama_dask.pipeline.context import ProcessingContext
from pyama_dask.pipeline.incremental import copy_images
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.plan import _scale, plan_fov

logger = logging.getLogger(__name__)


def finalise_fov(metadata: MicroscopyMetadata, context: ProcessingContext, output_dir: Path, params: Params,
                 fov: int) -> list[str]:
    """Make a followed FOV's images those of a batch run, and record complete the outputs equal to its.

    The copies get the batch run's chunks and contrast windows, the
    corrected images their tile medians; then the outputs of the steps whose
    live results are the batch's (copy, and segmentation, correction and
    tracking with PyAMA-core's algorithms and no drift correction) are
    marked complete with the fingerprints the batch run plans for the
    completed data. The others are left to the batch run.

    Returns
    -------
    list of str
        The steps recorded complete.
    """
    frames = read_state(output_dir, fov).frames
    expected = metadata.fov_shapes[fov][0]
    if frames != expected:
        logger.warning("FOV %d: %d frames processed live, the acquisition has %d: the batch run makes it again",
                       fov, frames, expected)
        return []
    channels = context.channels
    images = [*copy_images(channels), ("seg", channels.pc), ("seg_labeled", channels.pc)]
    for kind, channel in images:
        _batch_layout(ImageRef(output_dir, fov, kind, channel), metadata)
    for kind, channel in copy_images(channels):
        update_contrast_limits(ImageRef(output_dir, fov, kind, channel))
    kwargs = params.background_kwargs()
    for channel in channels.fl:
        raw = ImageRef(output_dir, fov, "pc" if channel == channels.pc else "fl", channel)
        write_corrected(ImageRef(output_dir, fov, "fl_corrected", channel), raw,
                        read_tile_medians(output_dir, fov, channel, frames), **kwargs)
    exact = {"copy", "correct"} | ({"segment"} if params.pyama_segmentation else set())
    if params.tracker == "iou" and context.drift_reference is None:
        exact.add("track")
    if "segment" not in exact:
        exact.discard("correct")
    plan = plan_fov(metadata, output_dir, fov, channels, params, input_identity(metadata.file_path), context.z)
    for task in plan.tasks:
        if task.step in exact:
            mark_complete(task.job.output, task.fingerprint)
    return sorted(exact)


def _batch_layout(ref: ImageRef, metadata: MicroscopyMetadata) -> None:
    """Give a grown image the chunks and the scale a batch run of the completed data gives it.

    Its chunks hold fewer frames than the movie has, at most; its time step
    is that of every frame's time stamp (the first batches knew a few).
    """
    location = store_path(ref.output_dir) / ref.group_path
    group = zarr.open_group(location, mode="r+", zarr_format=3)
    array = group["0"]
    frames, height, width = array.shape
    wanted = min(chunk_frames(height, width), max(1, frames))
    if array.chunks[0] != wanted:
        pixels = array[...]
        rechunked = group.create_array("0", shape=pixels.shape, dtype=pixels.dtype, chunks=(wanted, height, width),
                                       compressors=array.compressors, fill_value=array.fill_value,
                                       dimension_names=("t", "y", "x"), overwrite=True)
        rechunked[...] = pixels
    ngff.write_image(group, ref.name, _scale(metadata), None, ngff.space_unit(group))
