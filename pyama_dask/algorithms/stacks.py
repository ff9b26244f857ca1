"""Reading (T, H, W) stacks a block of frames at a time.

The stack functions of the algorithms accept numpy arrays and Zarr arrays
alike. A Zarr array is read one chunk of frames at a time (never the whole
stack), so a chunk is decompressed once however its frames are used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


def frame_blocks(stack: Any, name: str = "stack") -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(frames, block)``: a slice of frame indices and those frames as numpy.

    The block length is the stack's chunk length along T when it has one
    (Zarr), else one frame.

    Parameters
    ----------
    stack : array-like
        A (T, H, W) array supporting slicing along the first axis.
    name : str
        Name of the argument, for the error message when it is not 3-D.

    Yields
    ------
    tuple of (slice, numpy.ndarray)
        The frames covered and their pixels, shaped (n, H, W).
    """
    check_stack(stack, name)
    n_frames = stack.shape[0]
    step = _chunk_length(stack)
    for start in range(0, n_frames, step):
        frames = slice(start, min(start + step, n_frames))
        yield frames, np.asarray(stack[frames])


def check_stack(stack: Any, name: str, like: Any | None = None) -> None:
    """Raise ValueError unless ``stack`` is 3-D (and shaped like ``like``).

    Parameters
    ----------
    stack : array-like
        Array with ``shape`` and ``ndim``.
    name : str
        Name of the argument, for the error message.
    like : array-like, optional
        Array whose shape ``stack`` must have.
    """
    if len(stack.shape) != 3:
        raise ValueError(f"{name} must be a (T, H, W) stack, got shape {tuple(stack.shape)}")
    if like is not None and tuple(stack.shape) != tuple(like.shape):
        raise ValueError(
            f"{name} has shape {tuple(stack.shape)}, expected {tuple(like.shape)}"
        )


def _chunk_length(stack: Any) -> int:
    chunks = getattr(stack, "chunks", None)
    if chunks and isinstance(chunks[0], int) and chunks[0] > 0:
        return chunks[0]
    return 1
