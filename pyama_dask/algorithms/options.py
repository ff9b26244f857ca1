"""The values the algorithms' options take, and what they mean, apart from the algorithms themselves.

Here, apart from the algorithms (and their scientific libraries), so
that a process validating a request (the driver of a run, the command
line's options) knows them without loading what computes frames.
"""

from __future__ import annotations

import math

#: Values of ``image_kind``: what the frames show ("auto": decided from the pixels).
IMAGE_KINDS: tuple[str, ...] = ("auto", "transmitted", "fluorescence")
#: Values of ``threshold_method``: PyAMA-core's log-std histogram rule, or scikit-image's.
THRESHOLD_METHODS: tuple[str, ...] = ("logstd-mode", "otsu", "li")
#: Default of ``max_objects_per_frame`` of both trackers: real frames hold a
#: few hundred cells at most, noise frames thousands of grains.
MAX_OBJECTS_PER_FRAME = 2000
#: Values of ``drift_reference``: each frame registered on the previous one, or on the first.
REFERENCES: tuple[str, ...] = ("previous", "first")


def min_frames(min_trace_length: int | float, n_frames: int) -> int:
    """Frames a trace needs: ``min_trace_length`` itself (int) or that share of ``n_frames`` (float), >= 1.

    Examples
    --------
    >>> min_frames(30, 92), min_frames(0.5, 92), min_frames(0.1, 8)
    (30, 46, 1)
    """
    if isinstance(min_trace_length, float):
        return max(1, math.ceil(min_trace_length * n_frames))
    return int(min_trace_length)
