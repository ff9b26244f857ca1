"""The workflow on real microscopy files from ../shared/data.

The copy step must store exactly bioio's pixels, whatever the format and
however the scenes differ; the whole workflow must run on the one real
brightfield + fluorescence time-lapse (MetaMorph) and agree with the
in-process algorithms.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from bioio import BioImage

from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.io.store import ImageRef, image_space_unit, open_image
from pyama_dask.io.traces import read_traces_csv
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.steps import run_job
from pyama_dask.pipeline.jobs import FovSource, TaskJob
from pyama_dask.pipeline.tasks import copy_channel
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.workflow.run import run_complete_workflow
from pyama_dask.pipeline.serial import process_fov_serial

COPY_CASES = [
    ("arcadia-microscopy-tools/example-timelapse.nd2", None, 0, 0),
    ("arcadia-microscopy-tools/example-cerevisiae.nd2", None, 0, 1),
    ("pims/cluster.nd2", None, 0, 1),
    ("czitools/S3_1Pos_2Mosaic_T2_Z3_CH2_sm.czi", None, 2, 1),
    ("czitools/CellDivision_T3_Z5_CH2_X240_Y170.czi", None, 0, 0),
    ("laptrack/example_images.tif", "TYX", 0, 0),
]


@pytest.mark.parametrize("name, dim_order, fov, channel", COPY_CASES, ids=[c[0].split("/")[-1] for c in COPY_CASES])
def test_copy_stores_exactly_bioios_pixels(shared_data, tmp_path, name, dim_order, fov, channel):
    path = shared_data / name
    meta = read_metadata(path, dim_order=dim_order)
    ref = ImageRef(tmp_path, fov, "fl", channel)
    source = FovSource(path, fov, tuple(meta.fov_shapes[fov]), (1.0, 1.0, 1.0), dim_order,
                       tuple(meta.channel_names), ())
    job = TaskJob("copy", source, channel, {}, ref, Params(), "fp")
    assert run_job(copy_channel, job).status == "done"

    image = BioImage(path, **({"dim_order": dim_order} if dim_order else {}))
    image.set_scene(fov)
    z = {"Z": 0} if "Z" in image.dims.order else {}
    expected = image.get_image_data("TYX", C=channel, **z)
    stored = open_image(ref)[:]
    assert stored.dtype == np.uint16 and stored.shape == expected.shape
    np.testing.assert_array_equal(stored, expected)
    assert run_job(copy_channel, job).status == "skipped"


@pytest.mark.parametrize("name, z", [("arcadia-microscopy-tools/example-zstack.nd2", 5), ("pims/cluster.nd2", "max"),
                                     ("czitools/CellDivision_T3_Z5_CH2_X240_Y170.czi", "max")])
def test_copy_stores_the_chosen_z_plane_or_projection(shared_data, tmp_path, name, z):
    path = shared_data / name
    meta = read_metadata(path)
    ref = ImageRef(tmp_path, 0, "fl", 1 % meta.n_channels)
    source = FovSource(path, 0, tuple(meta.fov_shapes[0]), (1.0, 1.0, 1.0), None, tuple(meta.channel_names), (),
                       meta.n_z, z)
    assert run_job(copy_channel, TaskJob("copy", source, ref.channel, {}, ref, Params(), "fp")).status == "done"
    planes = BioImage(path).get_image_data("TZYX", C=ref.channel)
    np.testing.assert_array_equal(open_image(ref)[:], planes.max(axis=1) if z == "max" else planes[:, z])


def test_metamorph_brightfield_and_yfp_end_to_end(shared_data, dask_client, tmp_path):
    meta = read_metadata(shared_data / "rcell2-examples")
    assert meta.channel_names == ["TFP", "YFP"] and meta.n_frames == 3
    params = {"min_trace_length": 3}
    context = ProcessingContext(tmp_path, Channels(pc=0, fl=[1]), params=params)
    assert run_complete_workflow(meta, context, client=dask_client)

    (_, csv), = context.results_paths[0].traces_csv
    got = read_traces_csv(csv)
    want = process_fov_serial(meta, 0, Channels(pc=0, fl=[1]), Params.from_mapping(params))[1]
    assert got["cell"].nunique() >= 10, "brightfield segmentation should find and track cells over 3 frames"
    assert (got.groupby("cell").size() == 3).all()
    np.testing.assert_array_equal(got[["cell", "frame", "area"]].to_numpy(), want[["cell", "frame", "area"]].to_numpy())
    np.testing.assert_allclose(got["intensity_total"], want["intensity_total"], rtol=1e-6, atol=1e-4)
    # Time stamps come from the MetaSeries metadata: about 50 minutes apart.
    assert sorted(got["time"].unique()) == pytest.approx([0.0, 50.03, 100.04], abs=0.05)
    # The series has no spatial calibration: pixels, not micrometres.
    assert image_space_unit(ImageRef(tmp_path, 0, "pc", 0)) is None
    assert yaml.safe_load((tmp_path / "processing_results.yaml").read_text())["pixel_size_um"] is None
