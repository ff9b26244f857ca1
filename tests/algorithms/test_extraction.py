"""Trace extraction: hand-computed cells, filters, empty tables and the per-cell loop as reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pyama_dask.algorithms.extraction import (
    COLUMN_DTYPES,
    EXTRA_COLUMNS,
    TRACE_COLUMNS,
    extract_traces,
    measure_cells,
)
import pyama_reference as reference


def _l_shaped_cell():
    labels = np.zeros((6, 8), dtype=np.uint16)
    labels[1:4, 2] = 3  # column 2, rows 1-3
    labels[3, 2:6] = 3  # row 3, columns 2-5
    labels[5, 7] = 1  # a single pixel
    fluorescence = np.arange(48, dtype=np.float32).reshape(6, 8)
    return labels, fluorescence


def test_cell_measurements_by_hand():
    labels, fluorescence = _l_shaped_cell()
    cells = measure_cells(labels, fluorescence)
    assert list(cells.columns) == ["cell", "position_x", "position_y", "intensity_total", "area"]
    assert cells["cell"].tolist() == [1, 3]
    # Cell 3: columns 2..5 and rows 1..3, inclusive ends: centre (3.5, 2).
    # Pixels (1,2) (2,2) (3,2) (3,3) (3,4) (3,5) hold 10, 18, 26, 27, 28, 29.
    cell = cells.set_index("cell").loc[3]
    assert (cell["position_x"], cell["position_y"]) == (3.5, 2.0)
    assert cell["area"] == 6 and cell["intensity_total"] == 10 + 18 + 26 + 27 + 28 + 29
    single = cells.set_index("cell").loc[1]
    assert single[["position_x", "position_y", "area", "intensity_total"]].tolist() == [7, 5, 1, 47]


def test_extra_features_by_hand():
    labels, fluorescence = _l_shaped_cell()
    background = np.full(labels.shape, 2.5, dtype=np.float32)
    cells = measure_cells(labels, fluorescence, extra_features=True, background=background).set_index("cell")
    assert list(cells.columns[-4:]) == list(EXTRA_COLUMNS)
    assert cells.loc[3, "intensity_mean"] == pytest.approx(138 / 6)
    assert cells.loc[3, "background"] == 2.5
    assert cells.loc[3, "centroid_x"] == pytest.approx((2 + 2 + 2 + 3 + 4 + 5) / 6)
    assert cells.loc[3, "centroid_y"] == pytest.approx((1 + 2 + 3 + 3 + 3 + 3) / 6)
    assert np.isnan(measure_cells(labels, fluorescence, extra_features=True)["background"]).all()


def test_mask_restricts_the_measured_pixels():
    labels, fluorescence = _l_shaped_cell()
    mask = np.ones(labels.shape, dtype=bool)
    mask[3, :] = False  # drop the horizontal bar of cell 3
    cells = measure_cells(labels, fluorescence, mask=mask).set_index("cell")
    assert cells.loc[3, "area"] == 2 and cells.loc[3, "intensity_total"] == 10 + 18
    assert (cells.loc[3, "position_x"], cells.loc[3, "position_y"]) == (2.0, 1.5)


def test_traces_rows_by_frame_then_cell_and_length_filter():
    labels = np.zeros((4, 5, 5), dtype=np.uint16)
    labels[:, 0, 0] = 2  # present in 4 frames
    labels[:3, 4, 4] = 1  # present in 3 frames
    labels[1, 2, 2] = 5  # present in 1 frame
    fluorescence = np.ones(labels.shape, dtype=np.float32)
    times = [0.0, 7.5, 15.0, 22.5]
    traces = extract_traces(labels, fluorescence, times, fov=4, min_trace_length=3)
    assert list(traces.columns) == list(TRACE_COLUMNS)
    expected_rows = [(0, 1), (0, 2), (1, 1), (1, 2), (2, 1), (2, 2), (3, 2)]
    assert list(zip(traces["frame"], traces["cell"])) == expected_rows
    assert traces["time"].tolist() == [0.0, 0.0, 7.5, 7.5, 15.0, 15.0, 22.5]
    assert (traces["fov"] == 4).all() and traces["good"].all()
    longest = extract_traces(labels, fluorescence, times, fov=4, min_trace_length=4)
    assert longest["cell"].unique().tolist() == [2]


@pytest.mark.parametrize("extra_features", [False, True])
def test_empty_result_keeps_columns_and_dtypes(extra_features):
    labels = np.zeros((3, 4, 4), dtype=np.uint16)
    labels[0, 1, 1] = 1
    fluorescence = np.zeros((3, 4, 4), np.float32)
    traces = extract_traces(labels, fluorescence, np.arange(3.0), 0, extra_features=extra_features)
    expected = TRACE_COLUMNS + (EXTRA_COLUMNS if extra_features else ())
    assert traces.empty and list(traces.columns) == list(expected)
    assert traces.dtypes.to_dict() == {name: np.dtype(COLUMN_DTYPES[name]) for name in expected}


def test_extra_features_follow_the_trace_columns_and_use_the_raw_stack():
    labels = np.ones((2, 3, 3), dtype=np.uint16)
    corrected = np.full((2, 3, 3), 10.0, dtype=np.float32)
    raw = np.full((2, 3, 3), 110, dtype=np.uint16)
    traces = extract_traces(
        labels, corrected, [0, 1], 0, min_trace_length=2, extra_features=True, raw_fluorescence=raw
    )
    assert list(traces.columns) == list(TRACE_COLUMNS + EXTRA_COLUMNS)
    assert traces["background"].tolist() == [100.0, 100.0]
    assert traces["intensity_mean"].tolist() == [10.0, 10.0]


def test_default_columns_do_not_depend_on_extra_features_code():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, (3, 10, 10)).astype(np.uint16)
    fluorescence = rng.normal(size=(3, 10, 10)).astype(np.float32)
    plain = extract_traces(labels, fluorescence, np.arange(3.0), 0, min_trace_length=1)
    extra = extract_traces(labels, fluorescence, np.arange(3.0), 0, min_trace_length=1, extra_features=True)
    pd.testing.assert_frame_equal(plain, extra[list(TRACE_COLUMNS)])


label_stacks = st.tuples(st.integers(1, 4), st.integers(1, 20), st.integers(1, 20)).flatmap(
    lambda shape: st.tuples(
        arrays(np.uint16, shape, elements=st.integers(0, 6)),
        arrays(np.float32, shape, elements=st.floats(-1000, 1000, width=32)),
    )
)


@settings(max_examples=50, deadline=None)
@given(label_stacks, st.integers(1, 4))
def test_random_stacks_equal_the_per_cell_masking_loop(stacks, min_trace_length):
    labels, fluorescence = stacks
    times = np.arange(labels.shape[0]) * 2.0
    traces = extract_traces(labels, fluorescence, times, 1, min_trace_length=min_trace_length)
    expected = reference.traces(labels, fluorescence, times, 1, min_trace_length)
    if expected.empty:
        assert traces.empty
        return
    pd.testing.assert_frame_equal(traces, expected, check_dtype=False, rtol=1e-6)


@settings(max_examples=50, deadline=None)
@given(label_stacks)
def test_sums_equal_brute_force_masks(stacks):
    labels, fluorescence = stacks
    cells = measure_cells(labels[0], fluorescence[0]).set_index("cell")
    assert set(cells.index) == set(np.unique(labels[0])) - {0}
    for cell, row in cells.iterrows():
        inside = labels[0] == cell
        assert row["area"] == inside.sum()
        brute_force = fluorescence[0][inside].astype(np.float64).sum()
        assert row["intensity_total"] == pytest.approx(brute_force, abs=1e-6)


def test_zarr_stacks_are_read_by_chunk():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 5, (5, 12, 12)).astype(np.uint16)
    fluorescence = rng.normal(100, 5, (5, 12, 12)).astype(np.float32)
    zl = zarr.create_array(store={}, shape=labels.shape, chunks=(2, 12, 12), dtype="uint16")
    zf = zarr.create_array(store={}, shape=labels.shape, chunks=(3, 12, 12), dtype="float32")
    zl[:], zf[:] = labels, fluorescence
    expected = extract_traces(labels, fluorescence, np.arange(5.0), 0, min_trace_length=5)
    assert len(expected) == 20
    pd.testing.assert_frame_equal(extract_traces(zl, zf, np.arange(5.0), 0, min_trace_length=5), expected)


def test_bad_inputs_are_reported():
    with pytest.raises(ValueError, match="FOV 3: 2 times for 3 frames"):
        extract_traces(np.zeros((3, 4, 4), np.uint16), np.zeros((3, 4, 4)), [0, 1], 3)
    with pytest.raises(ValueError, match="fluorescence has shape"):
        extract_traces(np.zeros((3, 4, 4), np.uint16), np.zeros((3, 4, 5)), [0, 1, 2], 3)
    with pytest.raises(ValueError, match="integer"):
        measure_cells(np.zeros((4, 4)), np.zeros((4, 4)))


def test_a_lineage_adds_the_parent_column_empty_for_founders():
    labels = np.zeros((3, 10, 10), dtype=np.uint16)
    labels[:, 1:3, 1:3], labels[1:, 6:8, 6:8], labels[2, 1:3, 6:8] = 1, 2, 3
    fluorescence = np.ones(labels.shape)
    plain = extract_traces(labels, fluorescence, np.arange(3.0), 0, min_trace_length=1)
    traced = extract_traces(labels, fluorescence, np.arange(3.0), 0, min_trace_length=1, parents={2: 1, 3: 1})
    assert list(traced.columns) == [*plain.columns, "parent"]
    pd.testing.assert_frame_equal(traced.drop(columns="parent"), plain)
    assert traced["parent"].isna().tolist() == (traced["cell"] == 1).tolist()
    assert set(traced.loc[traced["cell"] > 1, "parent"]) == {1}
