"""Tasks of one FOV create their images at the same moment: none of them may fail for it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from pyama_dask.io.completion import completed_fingerprint, mark_complete
from pyama_dask.io.store import ImageRef, create_image


def test_images_of_a_new_fov_can_be_created_at_the_same_moment(tmp_path):
    for attempt in range(20):  # the race is lost only now and then
        out = tmp_path / str(attempt)
        barrier = threading.Barrier(4)

        def make(channel: int) -> None:
            ref = ImageRef(out, 0, "fl", channel)
            barrier.wait()
            create_image(ref, (1, 4, 4), np.uint16)
            mark_complete(ref, "fp")

        with ThreadPoolExecutor(4) as pool:
            for future in [pool.submit(make, channel) for channel in range(4)]:
                future.result()
        assert all(completed_fingerprint(ImageRef(out, 0, "fl", c)) == "fp" for c in range(4))
