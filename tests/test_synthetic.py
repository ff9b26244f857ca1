"""The synthetic data generator: file layout, metadata, determinism, truth, realism."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from bioio import BioImage
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from skimage import measure

from pyama_dask.synthetic import (
    SyntheticSpec,
    fluorescence_column,
    generate_dataset,
    load_spec,
    load_truth,
    true_labels,
)
from pyama_dask.synthetic.cells import simulate_cells
from pyama_dask.synthetic.render import FovRenderer
from pyama_dask.synthetic.spec import HALO_REACH_PX, MIN_GAP_PX
from pyama_dask.synthetic.truth import truth_table

# Non-square, non-default interval and pixel size, so defaults cannot pass by luck.
SPEC = SyntheticSpec(
    n_fovs=2,
    n_frames=12,
    size=256,
    width=320,
    n_cells=6,
    frame_interval_min=7.5,
    pixel_size_um=0.5,
    seed=3,
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("synthetic"), SPEC, name="small")


@pytest.fixture(scope="module")
def image(dataset):
    return BioImage(dataset.image_path)


@pytest.fixture(scope="module")
def truth(dataset):
    return load_truth(dataset.truth_path)


def scene_pixels(image: BioImage, fov: int) -> np.ndarray:
    """(T, C, Y, X) pixels of one scene."""
    image.set_scene(fov)
    return image.get_image_data("TCZYX")[:, :, 0]


def test_files_are_written_under_their_names(dataset):
    names = sorted(p.name for p in dataset.image_path.parent.iterdir())
    assert names == ["small.ome.tiff", "small_params.json", "small_truth.parquet"]
    assert load_spec(dataset.params_path) == SPEC


def test_scenes_dims_and_channels(image):
    assert len(image.scenes) == SPEC.n_fovs
    for fov in range(SPEC.n_fovs):
        image.set_scene(fov)
        assert (image.dims.T, image.dims.C, image.dims.Z, image.dims.Y, image.dims.X) == (12, 3, 1, 256, 320)
        assert image.dtype == np.uint16
        assert list(image.channel_names) == ["Phase", "GFP", "mCherry"]
        assert image.physical_pixel_sizes.Y == pytest.approx(0.5)
        assert image.physical_pixel_sizes.X == pytest.approx(0.5)


def test_time_metadata(image):
    for ome_image in image.ome_metadata.images:
        pixels = ome_image.pixels
        assert pixels.time_increment == pytest.approx(7.5)
        assert pixels.time_increment_unit.value == "min"
        assert len(pixels.planes) == 12 * 3
        for plane in pixels.planes:
            assert plane.delta_t_unit.value == "s"
            assert plane.delta_t == pytest.approx(plane.the_t * 7.5 * 60)


def test_pixels_read_back_exactly(image):
    for fov in range(SPEC.n_fovs):
        pixels = scene_pixels(image, fov)
        renderer = FovRenderer(SPEC, simulate_cells(SPEC, fov), fov)
        for t in (0, 7, 11):
            np.testing.assert_array_equal(pixels[t], renderer.frame(t)[0])


def test_compressed_file_holds_the_same_pixels(dataset, tmp_path):
    compressed = generate_dataset(tmp_path, SPEC, name="small", compression="zlib")
    assert compressed.image_path.stat().st_size < 0.8 * dataset.image_path.stat().st_size
    for fov in range(SPEC.n_fovs):
        np.testing.assert_array_equal(
            scene_pixels(BioImage(compressed.image_path), fov), scene_pixels(BioImage(dataset.image_path), fov)
        )


def test_values_stay_inside_uint16(image):
    for fov in range(SPEC.n_fovs):
        pixels = scene_pixels(image, fov)
        assert pixels.min() > 0
        assert pixels.max() < 20_000


def test_same_seed_same_bytes_other_seed_other_data(dataset, tmp_path):
    again = generate_dataset(tmp_path / "again", SPEC, name="small")
    assert again.image_path.read_bytes() == dataset.image_path.read_bytes()
    assert again.truth_path.read_bytes() == dataset.truth_path.read_bytes()

    other_spec = SyntheticSpec(**{**SPEC.to_dict(), "seed": 4})
    other = generate_dataset(tmp_path / "other", other_spec, name="small")
    first = scene_pixels(BioImage(dataset.image_path), 0)
    second = scene_pixels(BioImage(other.image_path), 0)
    assert np.mean(first != second) > 0.5
    assert not np.allclose(load_truth(other.truth_path)["x"], load_truth(dataset.truth_path)["x"], equal_nan=True)


def test_frames_render_alike_in_any_order():
    renderer = FovRenderer(SPEC, simulate_cells(SPEC, 0), 0)
    late_first, _ = renderer.frame(9)
    renderer.frame(2)
    late_again, _ = renderer.frame(9)
    np.testing.assert_array_equal(late_first, late_again)


def test_progress_counts_every_frame(tmp_path):
    spec = SyntheticSpec(n_fovs=2, n_frames=3, size=128, n_fluorescence=0)
    calls = []
    dataset = generate_dataset(tmp_path, spec, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 6) for i in range(1, 7)]
    image = BioImage(dataset.image_path)
    assert list(image.channel_names) == ["Phase"]
    assert list(load_truth(dataset.truth_path).columns) == [
        "fov", "cell", "frame", "time", "present", "x", "y", "area",
    ]


def test_interrupted_generation_leaves_no_dataset(tmp_path):
    spec = SyntheticSpec(n_fovs=2, n_frames=3, size=128, n_fluorescence=1)
    generate_dataset(tmp_path, spec)

    def fail_on_fourth_frame(done: int, total: int) -> None:
        if done == 4:
            raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        generate_dataset(tmp_path, SyntheticSpec(**{**spec.to_dict(), "seed": 9}), progress=fail_on_fourth_frame)
    # The old image and truth remain, but without a parameter file they are no dataset.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synthetic.ome.tiff", "synthetic_truth.parquet"]


def test_truth_table_layout(truth):
    assert list(truth.columns) == [
        "fov", "cell", "frame", "time", "present", "x", "y", "area", "fluorescence_ch1", "fluorescence_ch2",
    ]
    assert len(truth) == SPEC.n_fovs * SPEC.n_frames * 6
    first_fov = truth[truth.fov == 0]
    assert list(first_fov.frame[:7]) == [0] * 6 + [1]
    assert list(first_fov.cell[:7]) == [1, 2, 3, 4, 5, 6, 1]
    np.testing.assert_allclose(truth.time, truth.frame * 7.5)
    present, absent = truth[truth.present], truth[~truth.present]
    assert (absent.area == 0).all() and absent[["x", "y", "fluorescence_ch1"]].isna().all().all()
    assert present.x.between(0, 319).all() and present.y.between(0, 255).all()
    nominal = math.pi * SPEC.cell_radius_px**2
    assert present.area.between(0.6 * nominal, 1.5 * nominal).all()


def test_truth_areas_and_centres_match_label_images(truth):
    for fov, frame in [(0, 0), (1, 11)]:
        labels = true_labels(SPEC, fov, frame)
        rows = truth[(truth.fov == fov) & (truth.frame == frame) & truth.present]
        counts = np.bincount(labels.ravel(), minlength=7)
        np.testing.assert_array_equal(counts[rows.cell], rows.area)
        centres = ndimage.center_of_mass(labels > 0, labels, rows.cell)
        np.testing.assert_allclose([c[0] for c in centres], rows.y, atol=1.0)
        np.testing.assert_allclose([c[1] for c in centres], rows.x, atol=1.0)


def test_phase_cells_are_dark_and_textured(image):
    phase = scene_pixels(image, 0)[5, 0].astype(np.float64)
    labels = true_labels(SPEC, 0, 5)
    local_std = np.sqrt(np.maximum(ndimage.uniform_filter(phase**2, 3) - ndimage.uniform_filter(phase, 3) ** 2, 0))
    background = ndimage.binary_dilation(labels > 0, iterations=12) == 0
    bg_std, bg_mean = np.median(local_std[background]), np.median(phase[background])
    for cell in np.unique(labels[labels > 0]):
        inside = ndimage.binary_erosion(labels == cell, iterations=2)
        assert np.median(local_std[inside]) > 3 * bg_std
        assert np.median(phase[inside]) < 0.9 * bg_mean


def test_fluorescence_above_local_background_matches_truth(image, truth):
    checked = {"expressing": 0, "dark": 0}
    for fov, frame in [(0, 11), (1, 8)]:
        planes = scene_pixels(image, fov)[frame].astype(np.float64)
        labels = true_labels(SPEC, fov, frame)
        rows = truth[(truth.fov == fov) & (truth.frame == frame) & truth.present]
        for channel, (_, row) in itertools.product((1, 2), rows.iterrows()):
            cell = labels == row.cell
            ring = ndimage.binary_dilation(cell, iterations=10) & ~ndimage.binary_dilation(cell, iterations=3)
            measured = (planes[channel][cell] - np.median(planes[channel][ring])).sum()
            expected = row[fluorescence_column(channel)]
            # Background from a ring is off by a few counts per pixel.
            assert abs(measured - expected) <= 0.03 * expected + 5 * row.area
            checked["expressing" if expected > 50 * row.area else "dark"] += 1
    assert checked["expressing"] >= 3 and checked["dark"] >= 1


@pytest.mark.parametrize(("size", "seed"), [(512, 0), (1024, 1)])
def test_logstd_segmentation_finds_the_cells(size, seed):
    segmentation = pytest.importorskip("pyama_dask.algorithms.segmentation")
    spec = SyntheticSpec(n_fovs=1, n_frames=30, size=size, seed=seed)
    renderer = FovRenderer(spec, simulate_cells(spec, 0), 0)
    for frame in (0, 29):
        mask = segmentation.segment_logstd(renderer.frame(frame)[0][0])
        labels = true_labels(spec, 0, frame)
        components = measure.label(mask, connectivity=1)
        cells = np.unique(labels[labels > 0])
        found = sum(_found_alone(labels == cell, components) for cell in cells)
        assert found >= 0.9 * len(cells)
        assert np.count_nonzero(mask & (labels == 0)) < 0.05 * np.count_nonzero(labels == 0)


def _found_alone(cell: np.ndarray, components: np.ndarray) -> bool:
    """Whether one component covers the cell with IoU > 0.5."""
    touching = np.unique(components[cell])
    touching = touching[touching > 0]
    if len(touching) != 1:
        return False
    component = components == touching[0]
    return np.count_nonzero(component & cell) / np.count_nonzero(component | cell) > 0.5


def test_population_dynamics():
    spec = SyntheticSpec(n_fovs=1, n_frames=60, size=1024, seed=5)
    cells = simulate_cells(spec, 0)
    present = cells.present
    assert cells.n_cells == 40
    assert 0 < np.count_nonzero(~present[:, 0]) < 15  # some appear late
    assert 0 < np.count_nonzero(~present[:, -1]) < 15  # some vanish early
    expressed = cells.fluorescence.max(axis=2) > 0
    assert expressed.sum(axis=1).min() > 20 and (~expressed).sum(axis=1).min() >= 1
    onsets = [np.flatnonzero(trace)[0] for trace in cells.fluorescence[0] if trace.any()]
    assert min(onsets) < 15 < max(onsets)  # onsets spread over the movie
    step = np.hypot(np.diff(cells.x, axis=1), np.diff(cells.y, axis=1))
    assert 0.05 < np.median(step) < 1.5 and step.max() < 4


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(120, 600),
    width=st.integers(120, 600),
    n_cells=st.integers(1, 12),
    radius=st.floats(12, 20),
    seed=st.integers(0, 2**16),
)
def test_cells_never_come_close_and_stay_in_frame(size, width, n_cells, radius, seed):
    try:
        spec = SyntheticSpec(n_fovs=1, n_frames=40, size=size, width=width, n_cells=n_cells,
                             cell_radius_px=radius, seed=seed)
    except ValueError as error:
        assert "n_cells" in str(error) and "do not fit" in str(error)
        return
    cells = simulate_cells(spec, 0)
    outer = (cells.semi_major * (1 + cells.wobble))[:, None] + HALO_REACH_PX
    assert (cells.y - outer >= 0).all() and (cells.y + outer <= size - 1).all()
    assert (cells.x - outer >= 0).all() and (cells.x + outer <= width - 1).all()
    for i, j in itertools.combinations(range(cells.n_cells), 2):
        distance = np.hypot(cells.x[i] - cells.x[j], cells.y[i] - cells.y[j])
        assert (distance - outer[i] - outer[j] >= MIN_GAP_PX).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_fovs": 0}, "SyntheticSpec.n_fovs=0 must be >= 1"),
        ({"n_fluorescence": 5}, "SyntheticSpec.n_fluorescence=5 must be between 0 and 4"),
        ({"frame_interval_min": 0}, "SyntheticSpec.frame_interval_min=0 must be > 0"),
        ({"cell_radius_px": 8}, "SyntheticSpec.cell_radius_px=8 must be between 12 and 100"),
        ({"size": 256, "n_cells": 20}, "n_cells=20 do not fit in 256x256 px frames"),
    ],
)
def test_bad_spec_is_refused_with_the_parameter_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticSpec(**kwargs)


def test_default_cell_count_scales_with_area():
    assert SyntheticSpec(size=1024).cells_per_fov == 40
    assert SyntheticSpec(size=512).cells_per_fov == 10
    assert SyntheticSpec(size=2048).cells_per_fov == 160


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing_truth.parquet"):
        load_truth(tmp_path / "nothing_truth.parquet")
    with pytest.raises(ValueError, match="nothing_params.json"):
        load_spec(tmp_path / "nothing_params.json")
    with pytest.raises(ValueError, match="fov=2, frame=0 outside the dataset"):
        true_labels(SPEC, 2, 0)


def test_divisions_are_off_by_default_and_leave_the_founders_as_drawn():
    spec = SyntheticSpec(n_fovs=1, n_frames=20, size=512, n_cells=25, n_fluorescence=1, seed=3)
    dividing = SyntheticSpec(**{**spec.to_dict(), "divisions": True})
    assert "divisions" not in spec.to_dict() and dividing.to_dict()["divisions"] is True
    assert SyntheticSpec.from_dict(dividing.to_dict()) == dividing
    founders, cells = simulate_cells(spec, 0), simulate_cells(dividing, 0)
    n = founders.n_cells
    for name in ("y", "x", "semi_major", "angle"):
        np.testing.assert_array_equal(getattr(cells, name)[:n], getattr(founders, name))
    assert founders.parent.size == 0 and (cells.parent[:n] == 0).all()
    mothers = cells.parent[n:] - 1
    assert cells.n_cells == n + 2 * np.unique(mothers).size and np.unique(mothers).size >= 8
    for daughter, mother in enumerate(mothers, start=n):
        first = int(np.argmax(cells.present[daughter]))
        assert cells.present[mother, first - 1] and not cells.present[mother, first:].any()
        assert founders.present[mother, first:].sum() == cells.present[daughter].sum()
        assert cells.semi_major[daughter] == pytest.approx(founders.semi_major[mother] / np.sqrt(2))
        halves = founders.fluorescence[0, mother, first:] / 2
        np.testing.assert_allclose(cells.fluorescence[0, daughter, first:], halves)


def test_the_truth_names_each_daughters_mother_only_with_divisions():
    spec = SyntheticSpec(n_fovs=1, n_frames=12, size=256, n_cells=6, n_fluorescence=0, seed=1, divisions=True)
    cells = simulate_cells(spec, 0)
    truth = truth_table(spec, 0, cells, np.zeros(cells.present.shape, dtype=np.int64))
    assert truth.columns[-1] == "parent"
    assert truth.groupby("cell")["parent"].first().tolist() == cells.parent.tolist()
    plain = SyntheticSpec(**{**spec.to_dict(), "divisions": False})
    assert "parent" not in truth_table(plain, 0, simulate_cells(plain, 0), np.zeros((6, 12), dtype=np.int64))
