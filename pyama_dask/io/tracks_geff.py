"""The tracks graph of a FOV in the Graph Exchange File Format (geff), inside the FOV's Zarr group.

Written by the ``graph`` step as ``pyama.zarr/fov_000/tracks_ch_0`` (the
segmented channel's), beside the image whose label image holds the tracked
cells::

    fov_000/
        pc_ch_0/                     raw phase contrast
        pc_ch_0/labels/seg_labeled_ch_0
                                     tracked cell labels
        tracks_ch_0/                 the tracks graph (geff)
            nodes/ids, nodes/props/<name>/values
            edges/ids, edges/props/division/values

Node properties (one per cell and frame, :mod:`pyama_dask.algorithms.tracks_graph`):
``t`` (frame), ``y``, ``x`` (centroid, pixels), ``area`` (pixels),
``track_id`` (the label value of the cell in that frame), ``lineage_id``
(the founder's track id) and, when the register step ran, ``y_corrected``,
``x_corrected``. Edge property ``division``: True from a mother's last node
to a daughter's first node, False for the links along a track.

The geff metadata (``attrs["geff"]``) names ``t``, ``y``, ``x`` as axes, with
the scale to minutes and to the pixel size's unit, ``track_id`` as the
tracklet property and ``lineage_id`` as the lineage property, and the label
image (``node_prop``: ``track_id``) and the raw image as related objects.
The group is complete as every image of the store is
(:mod:`pyama_dask.io.completion`), by its ``attrs["pyama"]``.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pyama_dask.algorithms.tracks_graph import TracksGraph
from pyama_dask.io.ngff import MICROMETER, TIME_UNIT
from pyama_dask.io.store import LABEL_SOURCES, ImageRef

if TYPE_CHECKING:
    from geff_spec import GeffMetadata

# geff is imported where it is used: it takes about 0.5 s (pydantic models, networkx), and
# every process that plans a run imports this module for TRACKS_KIND.

#: The image kind of the tracks graph in the store (and its key in the results file).
TRACKS_KIND = "tracks"
#: Node properties always written, then those of drift-corrected positions.
NODE_PROPS = ("t", "y", "x", "area", "track_id", "lineage_id")
CORRECTED_PROPS = ("y_corrected", "x_corrected")
#: Edge property: True for a division edge.
DIVISION_PROP = "division"


def write_tracks_geff(graph: TracksGraph, ref: ImageRef, labels: ImageRef, scale: Sequence[float],
                      space_unit: str | None = MICROMETER) -> None:
    """Write ``graph`` as a geff group at ``ref``, replacing whatever is there.

    Parameters
    ----------
    graph
        The tracks.
    ref
        Where the group goes (kind :data:`TRACKS_KIND`).
    labels
        The label image the graph was made from, named in the metadata as a
        related object, with the raw image it annotates.
    scale
        One step along (t, y, x) in (minutes, ``space_unit``, ``space_unit``).
    space_unit
        Unit of y and x after scaling; None when the pixel size is unknown.
    """
    from geff.core_io import write_arrays

    location = ref.location
    if location.exists():  # geff writes into a fresh group only
        shutil.rmtree(location)
    props = {name: getattr(graph, name) for name in NODE_PROPS}
    if graph.y_corrected is not None:
        props.update({name: getattr(graph, name) for name in CORRECTED_PROPS})
    write_arrays(
        str(location),
        node_ids=np.arange(graph.n_nodes, dtype=np.uint64),
        node_props={name: {"values": np.asarray(values), "missing": None} for name, values in props.items()},
        edge_ids=graph.edges.astype(np.uint64),
        edge_props={DIVISION_PROP: {"values": graph.is_division.astype(bool), "missing": None}},
        metadata=_metadata(ref, labels, scale, space_unit),
        zarr_format=3,
    )


def _metadata(ref: ImageRef, labels: ImageRef, scale: Sequence[float], space_unit: str | None) -> GeffMetadata:
    """Axes with their scale, track properties, the label and raw images as related objects."""
    from geff_spec import Axis, DisplayHint, GeffMetadata, RelatedObject

    dt, dy, dx = (float(v) for v in scale)
    axes = [Axis(name="t", type="time", unit="frame", scale=dt, scaled_unit=TIME_UNIT)]
    axes += [Axis(name=name, type="space", unit="pixel", scale=step, scaled_unit=space_unit)
             if space_unit is not None else Axis(name=name, type="space", unit="pixel")
             for name, step in (("y", dy), ("x", dx))]
    image = ImageRef(labels.output_dir, labels.fov, LABEL_SOURCES[labels.kind], labels.channel)
    return GeffMetadata(
        directed=True,
        axes=axes,
        node_props_metadata={},
        edge_props_metadata={},
        track_node_props={"tracklet": "track_id", "lineage": "lineage_id"},
        related_objects=[
            RelatedObject(type="labels", path=_relative(labels, ref), node_prop="track_id"),
            RelatedObject(type="image", path=_relative(image, ref)),
        ],
        display_hints=DisplayHint(display_horizontal="x", display_vertical="y", display_time="t"),
    )


def _relative(target: ImageRef, ref: ImageRef) -> str:
    """Path of ``target``'s group relative to the group of ``ref`` (both of the same FOV)."""
    ups = "../" * len(Path(ref.group_path).parts[1:])
    return ups + "/".join(Path(target.group_path).parts[1:])


def read_tracks_geff(location: Path) -> tuple[TracksGraph, GeffMetadata]:
    """The tracks graph of a geff group written by :func:`write_tracks_geff`, and its metadata.

    Raises
    ------
    ValueError
        Naming the group when it is no geff or lacks a node property of :data:`NODE_PROPS`.
    """
    from geff.core_io import read_to_memory

    try:
        memory = read_to_memory(str(location))
    except (ValueError, FileNotFoundError, KeyError) as exc:
        raise ValueError(f"{location}: not a geff group of tracks ({exc})") from exc
    props = {name: prop["values"] for name, prop in memory["node_props"].items()}
    absent = [name for name in NODE_PROPS if name not in props]
    if absent:
        raise ValueError(f"{location}: the tracks graph has no node property {', '.join(absent)}")
    node_ids = np.asarray(memory["node_ids"]).astype(np.int64)
    if not np.array_equal(node_ids, np.arange(len(node_ids))):
        raise ValueError(f"{location}: node ids are not 0 ... {len(node_ids) - 1} in order, as the graph step writes them")
    edges = np.asarray(memory["edge_ids"]).astype(np.int64).reshape(-1, 2)
    division = memory["edge_props"].get(DIVISION_PROP, {"values": np.zeros(len(edges), bool)})["values"]
    graph = TracksGraph(
        **{name: np.asarray(props[name]) for name in NODE_PROPS},
        edges=edges, is_division=np.asarray(division, dtype=bool),
        **{name: np.asarray(props[name]) for name in CORRECTED_PROPS if name in props},
    )
    return graph, memory["metadata"]
