"""Fits per second: the vectorised fitter against a per-cell ``least_squares`` loop, and with Dask workers.

Run ``python -m benchmarks.kinetics [--cells 2000] [--loop-cells 200] [--workers 1 2] [--repeat 3]``.

The traces follow the maturation model (PyAMA's default) every 10 min over
24 h, with onsets, ktl, delta and offsets spread per cell and noise of 2 %
of each trace's spread. In one run, on the same traces and model:

- the per-cell loop, as PyAMA fits: ``scipy.optimize.least_squares`` with
  bounds from the model's initial values, one cell after another, on
  ``--loop-cells`` of them;
- :func:`pyama_dask.algorithms.kinetics_fit.fit_cells` on all of them in
  this process (one core);
- the same split in chunks over a LocalCluster of each of ``--workers``
  single-threaded workers.

It prints fits per second per core of each (the best of ``--repeat``
timings, with a worker task's allocator settings), the speed ratio, how
often each ends at a higher cost than the other (a worse optimum), and the
fits per second of each cluster size.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

# One BLAS thread per process, as on a Dask worker (whose nanny sets these too).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
from scipy.optimize import least_squares  # noqa: E402

from pyama_dask.algorithms.kinetics import MODELS, KineticsModel  # noqa: E402
from pyama_dask.algorithms.kinetics_fit import fit_cells  # noqa: E402
from pyama_dask.workflow.allocator import keep_frames_on_heap  # noqa: E402

MODEL = MODELS["maturation"]
CHUNK_CELLS = 250


def traces(n_cells: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy maturation traces every 10 min over 24 h: times (h) and values, (cells, points)."""
    rng = np.random.default_rng(seed)
    t = np.tile(np.arange(0, 24, 1 / 6), (n_cells, 1))
    drawn = {"t0": rng.uniform(-0.8, 0.8, n_cells), "ktl": 10 ** rng.uniform(2, 4.5, n_cells),
             "delta": 10 ** rng.uniform(-1.5, -0.3, n_cells), "offset": rng.uniform(-100, 100, n_cells)}
    fixed = {p.name: p.initial for p in MODEL.parameters if p.fixed}
    clean = MODEL.evaluate(t, fixed | {k: v[:, None] for k, v in drawn.items()})
    return t, clean + rng.normal(0, 0.02, clean.shape) * clean.std(axis=1, keepdims=True)


def per_cell_loop(model: KineticsModel, t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each cell's cost after a bounded ``least_squares`` from the model's initial values, one cell at a time."""
    free = model.free
    fixed = {p.name: p.initial for p in model.parameters if p.fixed}
    names = [p.name for p in free]
    bounds = ([p.lower for p in free], [p.upper for p in free])
    costs = np.empty(len(t))
    for cell in range(len(t)):
        def residuals(x, cell=cell):
            return model.evaluate(t[cell], fixed | dict(zip(names, x))) - y[cell]

        costs[cell] = least_squares(residuals, [p.initial for p in free], bounds=bounds).cost
    return costs


def vectorised_costs(model: KineticsModel, t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each cell's cost after :func:`fit_cells`."""
    fits = fit_cells(model, t, y)
    fitted = model.evaluate(t, {name: values[:, None] for name, values in fits.values.items()})
    return 0.5 * np.sum((fitted - y) ** 2, axis=1)


def _fit_chunk(t: np.ndarray, y: np.ndarray) -> int:
    keep_frames_on_heap()  # as every task of a run does: no fresh mmap per temporary array
    return int(fit_cells(MODEL, t, y).success.sum())


def on_workers(t: np.ndarray, y: np.ndarray, n_workers: int) -> float:
    """Seconds to fit every cell in chunks on a LocalCluster of ``n_workers`` single-threaded workers (started before timing)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=n_workers, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        client.run(_fit_chunk, t[:4], y[:4])  # warm every worker's imports and allocator
        chunks = [(client.scatter(t[i:i + CHUNK_CELLS]), client.scatter(y[i:i + CHUNK_CELLS]))
                  for i in range(0, len(t), CHUNK_CELLS)]
        start = time.perf_counter()
        fitted = sum(client.gather(client.map(_fit_chunk, *zip(*chunks), pure=False)))
        seconds = time.perf_counter() - start
    print(f"  {n_workers} worker(s): {len(t) / seconds:8.0f} fits/s ({fitted} of {len(t)} fitted)")
    return seconds


def _best(repeat: int, fit: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    """The shortest of ``repeat`` timings of ``fit`` and its costs."""
    timings = []
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        costs = fit()
        timings.append(time.perf_counter() - start)
    return min(timings), costs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--loop-cells", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3, help="best of this many timings of each in-process fit")
    args = parser.parse_args(argv)
    keep_frames_on_heap()  # the allocator of a worker's task, for both fits in this process
    t, y = traces(args.cells)
    n_loop = min(args.loop_cells, args.cells)
    print(f"maturation model, {args.cells} cells x {t.shape[1]} points, best of {args.repeat}")
    loop_seconds, loop = _best(args.repeat, lambda: per_cell_loop(MODEL, t[:n_loop], y[:n_loop]))
    ours_seconds, ours = _best(args.repeat, lambda: vectorised_costs(MODEL, t, y))
    loop_rate, ours_rate = n_loop / loop_seconds, args.cells / ours_seconds
    worse = np.mean(loop > ours[:n_loop] * (1 + 1e-6) + 1e-9)
    better = np.mean(ours[:n_loop] > loop * (1 + 1e-6) + 1e-9)
    print(f"  per-cell least_squares loop: {loop_rate:8.1f} fits/s per core ({n_loop} cells)")
    print(f"  vectorised fit_cells:        {ours_rate:8.1f} fits/s per core ({args.cells} cells)")
    print(f"  speed ratio: {ours_rate / loop_rate:.1f}x; the loop ends at a higher cost on {worse:.0%} of cells, "
          f"the vectorised fit on {better:.0%}")
    for n_workers in args.workers:
        on_workers(t, y, n_workers)


if __name__ == "__main__":
    main()
