"""Planning a FOV: its time stamps (those of FOV 0, extended where evenly spaced by construction), the Z
choice in the copies' fingerprints, and a channel both segmented and measured."""

from __future__ import annotations

from pathlib import Path

import pytest

import dataclasses

from pyama_dask.io.inputs.microscopy import MicroscopyMetadata
from pyama_dask.io.store import ImageRef
from pyama_dask.pipeline.context import Channels
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.plan import fov_times, plan_fov
from pyama_dask.pipeline.steps import tasks_per_fov
from pyama_dask.workflow.graph import fov_graph


def _metadata(time_source: str, timepoints: list[float], frames: list[int]) -> MicroscopyMetadata:
    return MicroscopyMetadata(
        file_path=Path("plate.ome.tiff"), base_name="plate", file_type="ome-tiff", height=64, width=64,
        n_frames=frames[0], n_fovs=len(frames), n_channels=2, timepoints=timepoints, channel_names=["PC", "GFP"],
        dtype="uint16", pixel_size_um=None, time_source=time_source, fov_names=[f"P{i}" for i in range(len(frames))],
        fov_shapes=[(t, 64, 64) for t in frames])


def test_a_fov_with_fewer_frames_takes_the_first_stamps():
    assert fov_times(_metadata("ome-deltat", [0.0, 1.5, 3.2, 4.0], [4, 2]), 1) == [0.0, 1.5]


@pytest.mark.parametrize("source, stamps, expected", [
    ("frame-index", [0.0, 1.0, 2.0], [0.0, 1.0, 2.0, 3.0, 4.0]),
    ("bioio-interval", [0.0, 2.5, 5.0], [0.0, 2.5, 5.0, 7.5, 10.0]),
    ("ome-time-increment", [0.0, 10.0, 20.0], [0.0, 10.0, 20.0, 30.0, 40.0]),
])
def test_evenly_spaced_stamps_extend_to_more_frames(source, stamps, expected):
    assert fov_times(_metadata(source, stamps, [3, 5]), 1) == pytest.approx(expected)


@pytest.mark.parametrize("source, stamps", [("ome-deltat", [0.0, 1.5, 3.2]), ("bioio-interval", [0.0])])
def test_a_fov_with_more_frames_than_known_stamps_is_refused_naming_it(source, stamps):
    meta = _metadata(source, stamps, [len(stamps), 5])
    with pytest.raises(ValueError, match=rf"plate.ome.tiff, FOV 1 \(P1\): it has 5 frames, .*\({source}\).*"
                                         rf"times of frames {len(stamps)}-4 are unknown"):
        fov_times(meta, 1)


def _copy_fingerprints(meta: MicroscopyMetadata, tmp_path: Path, z) -> dict[int, str]:
    plan = plan_fov(meta, tmp_path, 0, Channels(pc=0, fl=[1]), Params(), {"file": "plate"}, z)
    return {task.channel: task.fingerprint for task in plan.tasks if task.step == "copy"}


def test_z_choice_enters_the_copies_fingerprints_of_a_z_stack_only(tmp_path):
    flat = _metadata("ome-deltat", [0.0, 1.0], [2])
    stack = dataclasses.replace(flat, n_z=5)
    assert _copy_fingerprints(flat, tmp_path, None) == _copy_fingerprints(flat, tmp_path, 0)
    by_choice = [_copy_fingerprints(stack, tmp_path, z) for z in (0, 3, "max")]
    assert all(set(a.values()).isdisjoint(b.values()) for a in by_choice for b in by_choice if a is not b)
    assert _copy_fingerprints(stack, tmp_path, None) == by_choice[0]


def test_a_channel_segmented_and_measured_is_copied_once(tmp_path):
    meta = _metadata("ome-deltat", [0.0, 1.0], [2])
    channels = Channels(pc=1, fl=[1, 0])
    plan = plan_fov(meta, tmp_path, 0, channels, Params(), {"file": "plate"})
    copies = [task for task in plan.tasks if task.step == "copy"]
    assert [(task.role, task.channel) for task in copies] == [("segmented", 1), ("fluorescence", 0)]
    assert tasks_per_fov(channels)["copy"] == 2 and len(plan.tasks) == sum(tasks_per_fov(channels).values())
    segmented_copy = ImageRef(tmp_path, 0, "pc", 1).location
    corrections = {task.channel: task for task in plan.tasks if task.step == "correct"}
    assert corrections[1].job.inputs["source"].location == segmented_copy
    assert ("copy", "segmented", 1) in corrections[1].deps
    assert dict(plan.paths.fl) == {1: segmented_copy, 0: ImageRef(tmp_path, 0, "fl", 0).location}
    graph = fov_graph(plan, "run", pending_only=False)
    assert len(graph) == len(plan.tasks)  # every task has a key of its own
