"""Stacks are read one chunk of frames at a time."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from pyama_dask.algorithms.stacks import check_stack, frame_blocks


def test_zarr_stack_is_read_in_chunks_of_frames():
    stack = zarr.create_array(store={}, shape=(7, 4, 4), chunks=(3, 4, 4), dtype="uint16")
    stack[:] = np.arange(7 * 16, dtype=np.uint16).reshape(7, 4, 4)
    blocks = list(frame_blocks(stack))
    assert [(frames.start, frames.stop) for frames, _ in blocks] == [(0, 3), (3, 6), (6, 7)]
    assert all(isinstance(block, np.ndarray) for _, block in blocks)
    assert np.array_equal(np.concatenate([block for _, block in blocks]), stack[:])


def test_numpy_stack_is_read_frame_by_frame():
    blocks = list(frame_blocks(np.zeros((3, 2, 2))))
    assert [block.shape for _, block in blocks] == [(1, 2, 2)] * 3


def test_check_stack_names_the_argument():
    with pytest.raises(ValueError, match=r"masks must be a \(T, H, W\) stack, got shape \(4, 4\)"):
        check_stack(np.zeros((4, 4)), "masks")
    with pytest.raises(ValueError, match=r"out has shape \(2, 4, 4\), expected \(3, 4, 4\)"):
        check_stack(np.zeros((2, 4, 4)), "out", like=np.zeros((3, 4, 4)))
