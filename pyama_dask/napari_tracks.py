"""A FOV in napari: its image and labels (napari-ome-zarr), its tracks graph (our reader) as a Tracks layer.

The reader is declared to napari by the manifest ``pyama_dask/napari.yaml``
(entry point ``napari.manifest``). The image and its tracked labels are an
OME-Zarr image that napari-ome-zarr reads; this reader adds the tracks of
the graph (:mod:`pyama_dask.io.tracks_geff`)::

    viewer = napari.Viewer()
    viewer.open("out/pyama.zarr/fov_000/pc_ch_0", plugin="napari-ome-zarr")     # image + labels
    viewer.open("out/pyama.zarr/fov_000/tracks_ch_0", plugin="pyama-dask")       # tracks

which :func:`open_fov` does, and ``python -m pyama_dask.napari_tracks
out/pyama.zarr/fov_000`` from a shell (``--screenshot FILE`` saves the
canvas instead of showing the window).

Track ids are the label values (each daughter of a division has its own),
the graph maps each daughter to its mother, and the layer's scale is the
graph's axes' (minutes per frame, the pixel size), as the image's, so the
tracks lie over the cells.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from pyama_dask.io.store import LABEL_SOURCES
from pyama_dask.io.tracks_geff import NODE_PROPS, TRACKS_KIND, read_tracks_geff

if TYPE_CHECKING:
    from geff_spec import GeffMetadata

logger = logging.getLogger(__name__)

LayerData = tuple[Any, dict[str, Any], str]


def get_reader(path: str | list[str]) -> Callable[[str | list[str]], list[LayerData]] | None:
    """The reader of ``path`` when it is a tracks graph (geff metadata with our node properties), else None."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    try:
        group = zarr.open_group(path, mode="r")
    except (FileNotFoundError, ValueError, zarr.errors.BaseZarrError):
        return None
    node_props = group.attrs.get("geff", {}).get("node_props_metadata", {})
    return read_tracks if set(NODE_PROPS) <= set(node_props) else None


def read_tracks(path: str | list[str]) -> list[LayerData]:
    """A Tracks layer of the graph at ``path``: data ``(track id, t, y, x)``, the divisions as its graph."""
    location = Path(path[0] if isinstance(path, list) else path)
    graph, metadata = read_tracks_geff(location)
    order = np.lexsort((graph.t, graph.track_id))
    data = np.column_stack([graph.track_id, graph.t, graph.y, graph.x])[order].astype(np.float64)
    daughters = {}
    for mother_node, daughter_node in graph.edges[graph.is_division]:
        daughters[int(graph.track_id[daughter_node])] = [int(graph.track_id[mother_node])]
    features = {"area": graph.area[order], "lineage_id": graph.lineage_id[order]}
    logger.info("%s: %d tracks, %d of them daughters", location, len(np.unique(graph.track_id)), len(daughters))
    # Tails as long as the movie: each track's whole path so far is drawn.
    display = {"tail_length": int(graph.t.max(initial=0)) + 1, "tail_width": 3}
    return [(data, {"name": f"{location.parent.name} tracks", "graph": daughters, "features": features,
                    **display, **_axes(metadata)}, "tracks")]


def _axes(metadata: GeffMetadata) -> dict[str, Any]:
    """The layer's scale, units and axis labels: the graph's axes scaled as the image's NGFF axes are."""
    return {
        "scale": [1.0 if axis.scale is None else axis.scale for axis in metadata.axes],
        "units": [axis.scaled_unit or axis.unit for axis in metadata.axes],
        "axis_labels": [axis.name for axis in metadata.axes],
    }


def open_fov(viewer: Any, fov_group: Path, channel: int = 0) -> list[Any]:
    """Add a FOV's segmented image, its tracked labels and its tracks to a napari viewer.

    Parameters
    ----------
    viewer
        A ``napari.Viewer``.
    fov_group
        The FOV's group of the store, e.g. ``out/pyama.zarr/fov_000``.
    channel
        The segmented channel.

    Returns
    -------
    list
        The layers added: the image, the labels (shown), the tracks.

    Raises
    ------
    FileNotFoundError
        Naming the FOV's group when it has no image or no tracks graph of ``channel``.
    """
    image = Path(fov_group) / f"{LABEL_SOURCES['seg_labeled']}_ch_{channel}"
    tracks = Path(fov_group) / f"{TRACKS_KIND}_ch_{channel}"
    absent = [path.name for path in (image, tracks) if not (path / "zarr.json").is_file()]
    if absent:
        raise FileNotFoundError(f"{fov_group}: no {' and no '.join(absent)} (channel {channel}) in this FOV's group")
    layers = list(viewer.open(str(image), plugin="napari-ome-zarr"))
    for layer in layers:
        layer.visible = True  # napari-ome-zarr hides label images at first
    return layers + list(viewer.open(str(tracks), plugin="pyama-dask"))


def main(argv: list[str] | None = None) -> None:
    """Show a FOV in napari, or save a screenshot of it with ``--screenshot``."""
    import napari

    parser = argparse.ArgumentParser(prog="python -m pyama_dask.napari_tracks", description=main.__doc__)
    parser.add_argument("fov_group", type=Path, help="a FOV's group of the store, e.g. out/pyama.zarr/fov_000")
    parser.add_argument("--channel", type=int, default=0, help="the segmented channel (default 0)")
    parser.add_argument("--frame", type=int, help="frame shown (default: the last)")
    parser.add_argument("--screenshot", type=Path, help="save the canvas as this PNG and exit")
    args = parser.parse_args(argv)
    viewer = napari.Viewer(show=args.screenshot is None)
    open_fov(viewer, args.fov_group, args.channel)
    viewer.dims.set_current_step(0, viewer.dims.nsteps[0] - 1 if args.frame is None else args.frame)
    if args.screenshot is None:
        napari.run()
        return
    viewer.window.show()  # the canvas draws once shown (on a virtual display, e.g. under xvfb-run)
    viewer.screenshot(str(args.screenshot), size=(480, 480), canvas_only=True)
    viewer.close()


if __name__ == "__main__":
    main()
