"""Time stamps of each FOV: those of FOV 0, extended where they are evenly spaced by construction."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyama_dask.io.inputs.microscopy import MicroscopyMetadata
from pyama_dask.pipeline.plan import fov_times


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
])
def test_evenly_spaced_stamps_extend_to_more_frames(source, stamps, expected):
    assert fov_times(_metadata(source, stamps, [3, 5]), 1) == pytest.approx(expected)


@pytest.mark.parametrize("source, stamps", [("ome-deltat", [0.0, 1.5, 3.2]), ("bioio-interval", [0.0])])
def test_a_fov_with_more_frames_than_known_stamps_is_refused_naming_it(source, stamps):
    meta = _metadata(source, stamps, [len(stamps), 5])
    with pytest.raises(ValueError, match=rf"plate.ome.tiff, FOV 1 \(P1\): it has 5 frames, .*\({source}\).*"
                                         rf"times of frames {len(stamps)}-4 are unknown"):
        fov_times(meta, 1)
