"""napari opens a run's FOV: the image and its labels (napari-ome-zarr), the tracks (our reader of the geff graph).

napari draws with OpenGL: the test uses the X display it is given or starts
a virtual one (Xvfb), else tries Qt's offscreen platform; it skips, saying
why, when napari, its Qt binding or a display cannot start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import geff
import networkx as nx
import numpy as np
import pytest

from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.io.store import ImageRef, image_lineage, open_image
from pyama_dask.napari_tracks import get_reader, open_fov
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.synthetic import SyntheticSpec, generate_dataset
from pyama_dask.workflow.run import run_complete_workflow

MANIFEST = Path(__file__).resolve().parents[1] / "pyama_dask" / "napari.yaml"
# napari and npe2 use pydantic and Qt APIs their next versions drop: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def dividing_run(tmp_path_factory, dask_client):
    """The output of a robust-profile run over 1 FOV x 16 frames x 256 px of 8 dividing cells."""
    spec = SyntheticSpec(n_fovs=1, n_frames=16, size=256, n_cells=8, n_fluorescence=1, seed=5, divisions=True)
    dataset = generate_dataset(tmp_path_factory.mktemp("dividing"), spec, name="dividing")
    out = tmp_path_factory.mktemp("dividing_run")
    context = ProcessingContext(out, Channels(pc=0, fl=[1]), params={"profile": "robust"})
    assert run_complete_workflow(read_metadata(dataset.image_path), context, client=dask_client)
    return out


@pytest.fixture(scope="module")
def display():
    """An X display for Qt: the one given, a virtual one (Xvfb) started here, or Qt's offscreen platform."""
    if os.environ.get("DISPLAY"):
        yield
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        yield
        return
    number = next(n for n in range(90, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    server = subprocess.Popen([xvfb, f":{number}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.skip(f"Xvfb could not start a display :{number}")
        time.sleep(0.1)
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield
    finally:
        del os.environ["DISPLAY"]
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def napari_viewer(display):
    """A hidden napari viewer that knows our reader (installed, or registered from the manifest here)."""
    napari = pytest.importorskip("napari", reason="napari is not installed (pip install -e '.[napari]')")
    pytest.importorskip("napari_ome_zarr", reason="napari-ome-zarr is not installed (pip install -e '.[napari]')")
    from npe2 import PluginManager, PluginManifest

    plugins = PluginManager.instance()
    if "pyama-dask" not in plugins:  # the package was installed before its entry point existed
        plugins.register(PluginManifest.from_file(MANIFEST))
    try:
        viewer = napari.Viewer(show=False)
    except Exception as exc:  # noqa: BLE001 - any failure of Qt or OpenGL to start means no napari here
        pytest.skip(f"napari's Qt viewer cannot start here: {type(exc).__name__}: {exc}")
    yield viewer
    viewer.close()


def test_our_reader_claims_our_tracks_graphs_only(dividing_run, tmp_path):
    fov = dividing_run / "pyama.zarr" / "fov_000"
    assert get_reader(str(fov / "tracks_ch_0")) is not None
    assert get_reader(str(fov / "pc_ch_0")) is None and get_reader(str(fov / "nothing")) is None
    other = nx.DiGraph()
    other.add_node(0, t=0, y=1.0, x=2.0)
    other.add_node(1, t=1, y=1.5, x=2.5)
    other.add_edge(0, 1)
    geff.write(other, str(tmp_path / "other.zarr"), axis_names=["t", "y", "x"], zarr_format=3)
    assert get_reader(str(tmp_path / "other.zarr")) is None  # a geff graph of someone else's: no track ids


def test_napari_opens_the_image_the_labels_and_the_tracks(dividing_run, napari_viewer):
    fov = dividing_run / "pyama.zarr" / "fov_000"
    napari_viewer.layers.clear()
    try:
        added = open_fov(napari_viewer, fov)
    except AttributeError as exc:  # vispy reading the OpenGL extensions of a context it did not get
        pytest.skip(f"no OpenGL for napari's canvas here: {exc}")
    assert added == list(napari_viewer.layers)
    layers = {type(layer).__name__: layer for layer in napari_viewer.layers}
    assert sorted(layers) == ["Image", "Labels", "Tracks"] and len(napari_viewer.layers) == 3
    assert all(layer.visible for layer in added)

    phase = open_image(ImageRef(dividing_run, 0, "pc", 0))
    labels_ref = ImageRef(dividing_run, 0, "seg_labeled", 0)
    labels, parents = open_image(labels_ref)[:], image_lineage(labels_ref)
    np.testing.assert_array_equal(np.asarray(layers["Image"].data), phase[:])
    np.testing.assert_array_equal(np.asarray(layers["Labels"].data), labels)

    tracks = layers["Tracks"]
    shown = {(int(track), int(t)) for track, t in tracks.data[:, :2]}
    assert shown == {(int(cell), t) for t in range(len(labels)) for cell in np.unique(labels[t]) if cell}
    assert parents and tracks.graph == {daughter: [mother] for daughter, mother in parents.items()}
    np.testing.assert_allclose(tracks.scale, layers["Image"].scale)  # the tracks lie over the cells
    assert [str(unit) for unit in tracks.units] == [str(unit) for unit in layers["Image"].units]


def test_a_fov_without_tracks_is_named(dividing_run, tmp_path):
    shutil.copytree(dividing_run / "pyama.zarr" / "fov_000" / "pc_ch_0", tmp_path / "fov_000" / "pc_ch_0")
    with pytest.raises(FileNotFoundError, match=r"fov_000: no tracks_ch_0 \(channel 0\) in this FOV's group"):
        open_fov(None, tmp_path / "fov_000")  # refused before any layer is added
