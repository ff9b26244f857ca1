"""Drift by phase cross-correlation: known shifts of real frames recovered; real movies without drift tracked as well."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from pyama_dask.algorithms.registration import drift_stack, frame_drift, with_corrected_positions
from pyama_dask.evaluation.ctc import write_ctc_result, write_ctc_truth
from pyama_dask.evaluation.scoring import link_by_overlap, score_ctc
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.serial import segment_and_track

#: Content displacement (row, column) of each frame relative to frame 0, px: integer and sub-pixel steps.
KNOWN_DRIFT = np.array([[0.0, 0.0], [3.0, -2.0], [7.5, -4.25], [12.0, 1.5], [9.0, 8.0], [15.25, 14.0]])
SIDE = 384


def _drifted_movie(image: np.ndarray, drift: np.ndarray) -> np.ndarray:
    """A (T, SIDE, SIDE) movie of crops of ``image`` whose content moves by ``drift`` (sub-pixel by spline shift)."""
    margin = 32
    window = image[:SIDE + 2 * margin, :SIDE + 2 * margin].astype(np.float64)
    frames = [ndimage.shift(window, shift, order=3, mode="nearest")[margin:-margin, margin:-margin] for shift in drift]
    return np.stack(frames).astype(np.uint16)


@pytest.mark.parametrize("reference", ["previous", "first"])
def test_known_drift_of_real_brightfield_recovered_within_a_pixel(
    brightfield_frames: list[np.ndarray], reference: str
) -> None:
    movie = _drifted_movie(brightfield_frames[0], KNOWN_DRIFT)
    drift = drift_stack(movie, drift_reference=reference)
    assert drift.shape == KNOWN_DRIFT.shape
    np.testing.assert_array_equal(drift[0], [0.0, 0.0])
    np.testing.assert_array_less(np.abs(drift - KNOWN_DRIFT), 1.0)


def test_real_nuclei_frame_shift_recovered(nuclei_movie: tuple[np.ndarray, np.ndarray]) -> None:
    image = nuclei_movie[0][0].astype(np.float64)
    moved = np.roll(image, (6, -9), axis=(0, 1))
    np.testing.assert_allclose(frame_drift(image, moved), [6.0, -9.0], atol=0.5)


def test_flat_frame_has_no_drift() -> None:
    movie = np.zeros((3, 32, 32), dtype=np.uint16)
    np.testing.assert_array_equal(drift_stack(movie), np.zeros((3, 2)))


def test_unknown_reference_refused() -> None:
    with pytest.raises(ValueError, match="drift_reference .last."):
        drift_stack(np.zeros((2, 8, 8)), drift_reference="last")  # type: ignore[arg-type]


def test_trace_positions_gain_their_drift_corrected_twins() -> None:
    drift = np.array([[0.0, 0.0], [10.0, -4.0], [2.5, 3.0]])
    traces = pd.DataFrame({"cell": [1, 1, 2], "frame": [0, 2, 1], "position_x": [5.0, 8.0, 20.0],
                           "position_y": [7.0, 9.5, 30.0]})
    corrected = with_corrected_positions(traces, drift)
    assert list(corrected.columns) == [*traces.columns, "position_x_corrected", "position_y_corrected"]
    np.testing.assert_allclose(corrected["position_x_corrected"], [5.0, 5.0, 24.0])
    np.testing.assert_allclose(corrected["position_y_corrected"], [7.0, 7.0, 20.0])
    pd.testing.assert_frame_equal(corrected[traces.columns], traces)


def test_trace_rows_beyond_the_drift_refused() -> None:
    traces = pd.DataFrame({"cell": [1], "frame": [3], "position_x": [1.0], "position_y": [1.0]})
    with pytest.raises(ValueError, match="frames up to 3, drift of 2 frames"):
        with_corrected_positions(traces, np.zeros((2, 2)))


def test_registration_leaves_tracking_of_real_movies_without_stage_drift_as_good(laptrack_movie, nuclei_movie,
                                                                                  tmp_path) -> None:
    # Measured: drift <= 1.3 px; DET / TRA 0.716 / 0.700 and 0.864 / 0.819 with and without.
    for name, (images, truth) in {"transmitted": laptrack_movie, "nuclei": nuclei_movie}.items():
        write_ctc_truth(link_by_overlap(truth), tmp_path / name / "GT", segmentation=truth)
        drift = drift_stack(images)
        assert np.abs(drift).max() <= 2.0, name
        tra = {}
        for registered in (False, True):
            _, labels, _, _ = segment_and_track(images, Params(profile="robust"), drift=drift if registered else None)
            write_ctc_result(labels, tmp_path / name / str(registered))
            tra[registered] = score_ctc(tmp_path / name / str(registered), tmp_path / name / "GT")["TRA"]
        assert tra[True] >= tra[False] - 0.01, (name, tra)
