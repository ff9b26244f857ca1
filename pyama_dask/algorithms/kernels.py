"""How the per-pixel loops (kernels) of the algorithms are compiled: numba, cached, without the GIL.

A kernel reproduces a numpy/scipy computation to the bit in one or two
passes over the frame instead of the many passes (and temporaries) of the
library calls. The kernels of an algorithm live in its ``*_kernels`` module,
which the algorithm imports on first use: importing numba costs a few
tenths of a second that only processes computing frames should pay.

Kernels release the GIL (Dask workers run threads) and are cached next to
their module, compiled once per installation; where that directory is not
writable numba falls back to its per-user cache directory.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numba
import numpy as np

logger = logging.getLogger(__name__)

_CACHE_DIR = Path(__file__).parent / "__pycache__"

if os.environ.get("NUMBA_CACHE_DIR"):
    logger.debug("numba caches the kernels in NUMBA_CACHE_DIR=%s", os.environ["NUMBA_CACHE_DIR"])
elif not os.access(_CACHE_DIR if _CACHE_DIR.is_dir() else _CACHE_DIR.parent, os.W_OK):
    logger.info("%s is not writable: numba caches the compiled kernels in its per-user cache directory", _CACHE_DIR)

#: Decorator of every kernel.
kernel = numba.njit(cache=True, nogil=True)


def kernel_input(array: np.ndarray) -> np.ndarray:
    """``array`` as kernels take it: C-contiguous, in the machine's byte order (a copy only where it is not)."""
    values = np.asarray(array)
    return np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("="))
