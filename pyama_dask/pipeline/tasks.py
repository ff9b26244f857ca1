"""Per-FOV tasks: open inputs in the store, run one algorithm, write the output.

Each step of the step table (:mod:`pyama_dask.pipeline.steps`) has one task
function here, which takes a :class:`TaskJob` (plain picklable values: paths,
indices, parameters) and returns a small summary dict. Tasks stream frames
through the store chunk by chunk; pixels never travel through the scheduler.
They only write their output: :func:`pyama_dask.pipeline.steps.run_job`
decides whether a task runs and records its output complete.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyama_dask.algorithms.background import background_support_stack, tile_grid_shape
from pyama_dask.algorithms.extraction import extract_traces
from pyama_dask.algorithms.kinetics_fit import fit_cells
from pyama_dask.algorithms.registration import drift_stack, largest_drift, with_corrected_positions
from pyama_dask.algorithms.tracks_graph import tracks_graph
from pyama_dask.io.corrected import open_corrected, write_corrected
from pyama_dask.io.drift import read_drift_csv, write_drift_csv
from pyama_dask.io.fits import cell_series, fits_table, write_fits
from pyama_dask.io.inputs.microscopy import open_fov_reader
from pyama_dask.io.store import (
    ImageRef,
    contrast_pixels,
    create_image,
    image_qc,
    image_lineage,
    image_scale,
    image_space_unit,
    open_image,
    record_drift,
    record_image_qc,
    record_lineage,
    update_contrast_limits,
)
from pyama_dask.io.traces import read_traces_csv, write_traces_csv
from pyama_dask.io.tracks_geff import write_tracks_geff
from pyama_dask.pipeline.choices import segment_stack, track_stack
from pyama_dask.pipeline.fit_params import FitParams
from pyama_dask.pipeline.jobs import TaskJob


def copy_channel(job: TaskJob) -> dict:
    """Copy one channel of one FOV (one Z plane, or the Z projection) from the input into the store as uint16.

    The image records the channel's name and a contrast window fitted to its
    pixels, for viewers.
    """
    source, out = job.source, job.output
    target = create_image(out, source.shape, np.uint16, scale=source.scale,
                          channel_name=source.channel_names[job.channel], space_unit=source.space_unit)
    chunk = target.chunks[0]  # whole chunks: each is encoded and written once
    n_frames = source.shape[0]
    contrast = []
    with open_fov_reader(source.file_path, source.fov, source.dim_order, source.file_pattern) as reader:
        for start in range(0, n_frames, chunk):
            frames = slice(start, min(start + chunk, n_frames))
            block = reader.read(job.channel, frames, source.z)
            target[frames] = block
            contrast.append(contrast_pixels(block, frames, n_frames))
    update_contrast_limits(out, contrast)
    return {}


def segment_fov(job: TaskJob) -> dict:
    """Segmentation of a FOV's segmented channel into a bool mask stack.

    With a segmentation switch on (e.g. ``profile: robust``) the guarded
    segmentation runs instead, and its QC (the resolved image kind and the
    frames that fell back) goes into the mask image's ``attrs["pyama"]``.
    """
    frames = job.inputs["source"]
    source = open_image(frames)
    target = create_image(job.output, source.shape, np.bool_, scale=image_scale(frames),
                          space_unit=image_space_unit(frames))
    qc = segment_stack(source, target, job.params, fov=job.fov)
    if qc is None:
        return {}
    record_image_qc(job.output, qc.to_dict())
    return {"fallback_frames": len(qc.fallback_frames)}


def correct_fov(job: TaskJob) -> dict:
    """Tiled background correction of one fluorescence channel of a FOV.

    The corrected image is stored as each frame's tile medians, from which
    :func:`pyama_dask.io.corrected.open_corrected` computes the corrected
    frames exactly (see :mod:`pyama_dask.io.corrected`).
    """
    raw = job.inputs["source"]
    source = open_image(raw)
    kwargs = job.params.background_kwargs()
    medians = np.empty((source.shape[0], *tile_grid_shape(source.shape[1:], kwargs["tile_size"])), np.float32)
    background_support_stack(source, open_image(job.inputs["mask"]), medians, fov=job.fov, **kwargs)
    write_corrected(job.output, raw, medians, **kwargs)
    return {}


def register_fov(job: TaskJob, drift_reference: str) -> dict:
    """The drift of every frame of a FOV's segmented channel (on ``drift_reference``), written as its drift table."""
    drift = drift_stack(open_image(job.inputs["source"]), drift_reference=drift_reference)
    write_drift_csv(drift, job.output)
    return {"drift_px": largest_drift(drift)}


def track_fov(job: TaskJob) -> dict:
    """Tracking (IoU, or laptrack by ``params.tracker``) of a FOV's masks into a uint16 label stack.

    With the ``register`` step planned (a run's ``drift_reference``), its
    drift table (input ``drift``) makes the tracker match drift-corrected
    positions, and the drift is kept in the label image's ``attrs["pyama"]``
    (:func:`pyama_dask.io.store.record_drift`).

    When divisions are tracked the lineage goes into the label image's
    ``attrs["pyama"]`` (:func:`pyama_dask.io.store.record_lineage`).
    """
    masks = job.inputs["source"]
    source = open_image(masks)
    target = create_image(job.output, source.shape, np.uint16, scale=image_scale(masks),
                          space_unit=image_space_unit(masks))
    drift = read_drift_csv(job.inputs["drift"]) if "drift" in job.inputs else None
    n_tracks, parents = track_stack(source, target, job.params, drift=drift)
    if drift is not None:
        record_drift(job.output, drift)
    if parents is None:
        return {"tracks": n_tracks}
    record_lineage(job.output, parents)
    return {"tracks": n_tracks, "divisions": len(set(parents.values()))}


def graph_fov(job: TaskJob) -> dict:
    """The tracks of a FOV's labels (and their lineage) as a geff graph beside them in the store.

    With the register step planned, its drift table (input ``drift``) adds
    the nodes' drift-corrected positions.
    """
    labels = job.inputs["labels"]
    drift = read_drift_csv(job.inputs["drift"]) if "drift" in job.inputs else None
    graph = tracks_graph(open_image(labels), image_lineage(labels), drift)
    write_tracks_geff(graph, job.output, labels, image_scale(labels), image_space_unit(labels))
    return {"nodes": graph.n_nodes, "division_edges": int(graph.is_division.sum())}


def extract_fov(job: TaskJob) -> dict:
    """Trace extraction of one fluorescence channel of a FOV into PyAMA-core's CSV.

    With ``good_from_qc`` the segmentation's fallback frames (recorded on the
    mask image the labels were tracked from) mark rows ``good=False``. With
    the register step planned, its drift table (input ``drift``) adds the
    drift-corrected positions. When the labels carry a lineage, the table
    gains the ``parent`` column.
    """
    labels, corrected, params = job.inputs["labels"], job.inputs["corrected"], job.params
    qc: dict[str, Any] = {}
    if params.good_from_qc:
        masks = ImageRef(labels.output_dir, labels.fov, "seg", labels.channel)
        qc["fallback_frames"] = [record["frame"] for record in image_qc(masks).get("fallback_frames", [])]
    fluorescence = open_corrected(corrected.location)
    if params.extra_features:  # the per-cell background level is raw minus corrected
        qc["raw_fluorescence"] = fluorescence.raw
    parents = image_lineage(labels)
    if parents is not None:
        qc["parents"] = parents
    # Traces sum the corrected fluorescence over cell pixels: computing it there only is
    # enough. Extraction and the correction walk the labels block by block together.
    cells = _LastBlockKept(open_image(labels))
    table = extract_traces(
        cells, fluorescence.where(cells), list(job.source.times), job.fov,
        **params.extraction_kwargs(), **qc,
    )
    if "drift" in job.inputs:
        table = with_corrected_positions(table, read_drift_csv(job.inputs["drift"]))
    write_traces_csv(table, job.output)
    return {"cells": int(table["cell"].nunique()), "rows": len(table)}


def fit_fov(job: TaskJob, settings: FitParams) -> dict:
    """Fit the kinetics model of ``settings`` to every cell of one fluorescence channel's traces of a FOV.

    Good rows only, time in hours from the traces' ``time`` column; cells
    that cannot be fitted are kept with ``success`` False and their reason.
    """
    model = settings.kinetics_model()
    cells, t, y = cell_series(read_traces_csv(job.inputs["traces"]))
    fits = fit_cells(model, t, y, min_points=settings.min_points)
    table = fits_table(fits, model, job.fov, job.channel, cells)
    write_fits(table, model, job.output, {"fit": settings.record()})
    return {"fitted": int(fits.success.sum())}


class _LastBlockKept:
    """A read-only array that keeps its last block read, so that two readers of the same block decode it once."""

    def __init__(self, array: Any) -> None:
        self._array = array
        self.shape, self.dtype, self.chunks, self.ndim = array.shape, array.dtype, array.chunks, array.ndim
        self._key: Any = None
        self._block: np.ndarray | None = None

    def __getitem__(self, key: Any) -> np.ndarray:
        if not (isinstance(key, slice) and key == self._key):
            self._block = np.asarray(self._array[key])
            self._key = key if isinstance(key, slice) else None
        return self._block

