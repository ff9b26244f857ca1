"""``python -m benchmarks``: see :mod:`benchmarks.suite`."""

import os

# One BLAS thread per process, as in a Dask worker (whose nanny sets these
# too): the serial floor and the workers then use the same number of cores.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from benchmarks.suite import main  # noqa: E402

if __name__ == "__main__":  # not when a spawned process imports this module
    main()
