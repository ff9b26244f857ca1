"""What a follow run keeps beside the store: rows and medians of the recorded frames only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pyama_dask.io.live import (
    LiveState,
    append_tile_medians,
    discard_unrecorded,
    read_rows,
    read_state,
    read_tile_medians,
    write_rows,
    write_state,
    write_traces_so_far,
)


def _rows(frames, fov=0):
    return pd.DataFrame({"fov": fov, "cell": [1] * len(frames), "frame": list(frames), "good": True})


def test_rows_and_medians_beyond_the_recorded_frames_are_not_read(tmp_path):
    write_rows(tmp_path, 0, 1, 0, 2, _rows([0, 1]))
    write_rows(tmp_path, 0, 1, 2, 4, _rows([2, 3]))
    append_tile_medians(tmp_path, 0, 1, 0, np.ones((2, 3, 3), np.float32))
    append_tile_medians(tmp_path, 0, 1, 2, np.full((2, 3, 3), 2, np.float32))
    write_state(tmp_path, 0, LiveState(2, {"next_id": 3}))
    assert read_state(tmp_path, 0) == LiveState(2, {"next_id": 3})
    frames = read_state(tmp_path, 0).frames
    assert read_rows(tmp_path, 0, 1, frames)["frame"].tolist() == [0, 1]
    assert read_tile_medians(tmp_path, 0, 1, frames).tolist() == np.ones((2, 3, 3)).tolist()
    assert [path.name for path in discard_unrecorded(tmp_path, 0, frames)] == ["000002-000004.csv"]
    assert read_rows(tmp_path, 0, 1, 4)["frame"].tolist() == [0, 1]


def test_traces_so_far_hold_every_fov_and_channel(tmp_path):
    assert write_traces_so_far(tmp_path, [1, 2], {0: 2}) is None
    write_rows(tmp_path, 0, 1, 0, 2, _rows([0, 1]))
    write_rows(tmp_path, 0, 2, 0, 2, _rows([0, 1]))
    write_rows(tmp_path, 1, 1, 0, 1, _rows([0], fov=1))
    table = pd.read_csv(write_traces_so_far(tmp_path, [1, 2], {0: 2, 1: 1}))
    assert sorted(zip(table["fov"], table["channel"], table["frame"])) == [
        (0, 1, 0), (0, 1, 1), (0, 2, 0), (0, 2, 1), (1, 1, 0)]
