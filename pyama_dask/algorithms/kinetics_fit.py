"""Fitting a kinetics model to many cells at once: a vectorised, bounded Levenberg-Marquardt.

Every cell is one row of ``(cells, points)`` arrays of times (hours) and
values, NaN where a cell has no point. All rows iterate together: residuals
and their Jacobian (the model's analytic one when it has it, else central
differences, each parameter shifted for every row at once) are numpy
arrays over the rows, and each row's damped normal
equations are solved in one batched ``numpy.linalg.solve``. Bounds hold by
projection: a step is clipped into the box, and a parameter at a bound whose
gradient points out of the box is held there for the step (so the others
move as if it were fixed), which is the bound-constrained optimum's
condition.

The start is robust: every combination of the model's ``start_grid`` values
(spread over each parameter's bounds) is a candidate, its gain and level
(``ktl`` and ``offset``) solved linearly from each trace so that it is on the
trace's scale; the best candidates of each cell are refined and the best
result kept. A cell that cannot be fitted gets ``success = False`` and a
``reason``: ``nan`` (no finite point), ``too_short`` (fewer than
``min_points``), ``constant`` (no variation), ``fit_failed`` (no finite
residual anywhere); nothing raises.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np

from pyama_dask.algorithms.kinetics import KineticsModel, r_squared, rmse

logger = logging.getLogger(__name__)

#: Reasons a cell is not fitted.
REASONS = ("nan", "too_short", "constant", "fit_failed")
_DIFF_STEP = np.finfo(float).eps ** (1 / 3)


@dataclass(frozen=True)
class CellFits:
    """The fits of many cells: one entry per cell in each array.

    ``values`` holds every parameter, fixed ones included (NaN where a cell
    is not fitted); ``at_bound`` each fitted parameter's flag of ending at
    one of its bounds. ``reason`` is ``""`` where ``success``.
    """

    model: str
    values: dict[str, np.ndarray]
    at_bound: dict[str, np.ndarray]
    r_squared: np.ndarray
    rmse: np.ndarray
    n_points: np.ndarray
    success: np.ndarray
    reason: np.ndarray

    def __len__(self) -> int:
        return len(self.success)


@dataclass(frozen=True)
class _Problem:
    """One chunk of cells and the model: residuals of free parameter rows, fixed parameters folded in."""

    model: KineticsModel
    t: np.ndarray  # (cells, points), 0 where no point
    y: np.ndarray  # idem
    w: np.ndarray  # 1 where a point, else 0

    def values(self, free: np.ndarray) -> dict[str, np.ndarray | float]:
        """Every parameter of the model for parameter rows ``free`` (rows x free), fixed ones at their value."""
        values: dict[str, np.ndarray | float] = {p.name: p.initial for p in self.model.parameters}
        for j, p in enumerate(self.model.free):
            values[p.name] = free[:, j:j + 1]
        return values

    def residuals(self, free: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Weighted residuals (model - data) of parameter rows ``free`` (rows x free) for the cells ``rows``."""
        with np.errstate(all="ignore"):
            return self.w[rows] * (self.model.evaluate(self.t[rows], self.values(free)) - self.y[rows])


def fit_cells(model: KineticsModel, t: np.ndarray, y: np.ndarray, *, min_points: int = 5,
              chunk_size: int = 256, refine: int = 2, max_iterations: int = 200) -> CellFits:
    """Fit ``model`` to every row (cell) of times ``t`` (hours) and values ``y``, NaN where no point.

    Parameters
    ----------
    model
        The model, its parameters' initial values, bounds and fixed flags.
    t, y
        Arrays of shape ``(cells, points)``.
    min_points
        Fewest finite points a cell is fitted from.
    chunk_size
        Cells fitted together (bounds the memory: about
        ``chunk_size * starts * points`` floats).
    refine
        Best starting candidates of each cell refined by the optimiser.
    max_iterations
        Most iterations of the optimiser.
    """
    t, y = np.atleast_2d(np.asarray(t, float)), np.atleast_2d(np.asarray(y, float))
    if t.shape != y.shape:
        raise ValueError(f"times {t.shape} and values {y.shape} differ in shape")
    valid = np.isfinite(t) & np.isfinite(y)
    n_points = valid.sum(axis=1)
    reason = _screen(y, valid, min_points)
    free = np.full((len(t), len(model.free)), np.nan)
    todo = np.flatnonzero(reason == "")
    for start in range(0, todo.size, chunk_size):
        rows = todo[start:start + chunk_size]
        w = valid[rows].astype(float)
        problem = _Problem(model, np.where(valid[rows], t[rows], 0.0), np.where(valid[rows], y[rows], 0.0), w)
        free[rows] = _fit_chunk(problem, refine, max_iterations)
    reason[(reason == "") & ~np.isfinite(free).all(axis=1)] = "fit_failed"
    return _results(model, t, y, valid, free, n_points, reason)


def _screen(y: np.ndarray, valid: np.ndarray, min_points: int) -> np.ndarray:
    """Each cell's reason not to be fitted, ``""`` where it is fitted."""
    n = valid.sum(axis=1)
    highest = np.max(np.where(valid, y, -np.inf), axis=1, initial=-np.inf)
    constant = highest == np.min(np.where(valid, y, np.inf), axis=1, initial=np.inf)
    reason = np.full(len(y), "", dtype=object)
    reason[constant] = "constant"
    reason[n < max(min_points, 1)] = "too_short"
    reason[n == 0] = "nan"
    return reason


def _bounds(model: KineticsModel) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([p.lower for p in model.free], float), np.array([p.upper for p in model.free], float))


def _grid(lower: float, upper: float, n: int) -> np.ndarray:
    """``n`` values inside [lower, upper], geometric when the bounds are positive and span two decades."""
    quantiles = (np.arange(n) + 0.5) / n
    if lower > 0 and upper / lower >= 100:
        return np.exp(np.log(lower) + quantiles * (np.log(upper) - np.log(lower)))
    return lower + quantiles * (upper - lower)


def _candidates(model: KineticsModel) -> np.ndarray:
    """Starting rows (candidates x free parameters): the initial values and every combination of the grid."""
    free = model.free
    axes = []
    for p in free:
        count = dict(model.start_grid).get(p.name, 0)
        axes.append(_grid(p.lower, p.upper, count) if count else np.array([p.initial]))
    grid = np.array(list(itertools.product(*axes)), float).reshape(-1, len(free))
    return np.unique(np.vstack([[p.initial for p in free], grid]), axis=0)


def _fit_chunk(problem: _Problem, refine: int, max_iterations: int) -> np.ndarray:
    """The best free parameters of each cell of ``problem``."""
    lower, upper = _bounds(problem.model)
    candidates = _candidates(problem.model)
    n_cells, n_candidates = len(problem.t), len(candidates)
    cells = np.repeat(np.arange(n_cells), n_candidates)
    axis = _shared_axis(problem)
    if axis is not None:
        starts, cost = _starts_on_shared_axis(problem, axis, candidates, lower, upper)
    else:
        starts = _scaled_starts(problem, np.tile(candidates, (n_cells, 1)), cells, lower, upper)
        cost = _cost(problem.residuals(starts, cells))
    cost = np.where(np.isfinite(cost), cost, np.inf).reshape(n_cells, n_candidates)
    keep = min(refine, n_candidates)
    best = np.argsort(cost, axis=1)[:, :keep]
    chosen = (np.arange(n_cells)[:, None] * n_candidates + best).ravel()
    fitted, final = _levenberg_marquardt(problem, starts[chosen], cells[chosen], lower, upper, max_iterations)
    final = np.where(np.isfinite(final), final, np.inf).reshape(n_cells, keep)
    winner = np.argmin(final, axis=1)
    out = fitted.reshape(n_cells, keep, -1)[np.arange(n_cells), winner]
    out[~np.isfinite(final[np.arange(n_cells), winner])] = np.nan
    return out


def _linear(model: KineticsModel) -> list[int]:
    """Indices among the free parameters of the model's gain and level, those free."""
    names = [p.name for p in model.free]
    return [names.index(n) for n in (model.gain, model.level) if n in names]


def _shared_axis(problem: _Problem) -> np.ndarray | None:
    """The time axis every cell's points lie on (the frames of one FOV), or None when the cells' times differ."""
    axis = np.max(np.where(problem.w > 0, problem.t, -np.inf), axis=0)
    shared = (problem.w == 0) | (problem.t == axis)
    return np.where(np.isfinite(axis), axis, 0.0) if shared.all() else None


def _starts_on_shared_axis(problem: _Problem, axis: np.ndarray, candidates: np.ndarray, lower: np.ndarray,
                           upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The starts of :func:`_scaled_starts` and their costs, with the model evaluated once per candidate.

    On a shared time axis the candidates' curves are the same for every
    cell: the gain and level are solved, and the costs summed, from
    products of those curves with each cell's (weighted) points.
    """
    linear = _linear(problem.model)
    w, wy = problem.w, problem.w * problem.y

    def curves(rows: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return problem.model.evaluate(np.broadcast_to(axis, (len(rows), axis.size)), problem.values(rows))

    zeroed = candidates.copy()
    zeroed[:, linear] = 0.0
    base = curves(zeroed)
    columns = []
    for j in linear:
        unit = zeroed.copy()
        unit[:, j] = 1.0
        columns.append(curves(unit) - base)
    with np.errstate(all="ignore"):
        residual_sq = (wy * problem.y).sum(axis=1)[:, None] - 2 * wy @ base.T + w @ (base * base).T
        cross = [wy @ col.T - w @ (base * col).T for col in columns]  # sum of w (y - base) col, (cells, candidates)
        products = [[w @ (a * b).T for b in columns] for a in columns]
        starts = np.broadcast_to(candidates, (len(w), *candidates.shape)).copy()
        cost = 0.5 * residual_sq
        if linear:
            normal = np.stack([np.stack(row, axis=-1) for row in products], axis=-2)
            rhs = np.stack(cross, axis=-1)
            ridge = 1e-12 * np.trace(normal, axis1=-2, axis2=-1)[..., None, None] * np.eye(len(linear)) + 1e-300
            solved = np.linalg.solve(np.nan_to_num(normal) + ridge, np.nan_to_num(rhs)[..., None])[..., 0]
            coefficients = np.where(np.isfinite(solved), solved, candidates[:, linear])
            coefficients = np.clip(coefficients, lower[linear], upper[linear])
            starts[..., linear] = coefficients
            cost = cost - np.sum(coefficients * rhs, axis=-1) + 0.5 * np.einsum("csq,csqp,csp->cs", coefficients,
                                                                                 normal, coefficients)
    return starts.reshape(-1, candidates.shape[1]), cost


def _scaled_starts(problem: _Problem, starts: np.ndarray, cells: np.ndarray,
                   lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``starts`` with the model's gain and level (those free) solved linearly from each cell's trace, within bounds.

    The model is taken as ``base + gain * g + level * l``, its columns read off
    three evaluations; a start the solve cannot place keeps its values.
    """
    linear = _linear(problem.model)
    if not linear:
        return starts
    zeroed = starts.copy()
    zeroed[:, linear] = 0.0
    base = problem.residuals(zeroed, cells) + problem.y[cells] * problem.w[cells]
    columns = []
    for j in linear:
        unit = zeroed.copy()
        unit[:, j] = 1.0
        columns.append(problem.residuals(unit, cells) + problem.y[cells] * problem.w[cells] - base)
    design = np.stack(columns, axis=2)  # (rows, points, q), weighted already
    target = problem.w[cells] * problem.y[cells] - base
    with np.errstate(all="ignore"):
        transposed = design.transpose(0, 2, 1)
        normal = transposed @ design
        rhs = (transposed @ target[..., None])[..., 0]
        ridge = 1e-12 * np.trace(normal, axis1=1, axis2=2)[:, None, None] * np.eye(len(linear)) + 1e-300
        solved = np.linalg.solve(np.nan_to_num(normal) + ridge, np.nan_to_num(rhs)[..., None])[..., 0]
    placed = starts.copy()
    ok = np.isfinite(solved).all(axis=1)
    placed[np.ix_(ok, linear)] = solved[ok]
    return np.clip(placed, lower, upper)


def _cost(residuals: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return 0.5 * np.sum(residuals * residuals, axis=1)


def _jacobian(problem: _Problem, free: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Jacobian of the residuals, (rows, points, free), non-finite entries 0: the model's own, else central differences."""
    if problem.model.jacobian is not None:
        with np.errstate(all="ignore"):
            by = problem.model.jacobian(problem.t[cells], **problem.values(free))
        weights = problem.w[cells]
        columns = [weights * np.broadcast_to(by[p.name], weights.shape) for p in problem.model.free]
        return np.nan_to_num(np.stack(columns, axis=2), nan=0.0, posinf=0.0, neginf=0.0)
    columns = []
    for j in range(free.shape[1]):
        h = _DIFF_STEP * np.maximum(np.abs(free[:, j]), 1e-2)
        up, down = free.copy(), free.copy()
        up[:, j] += h
        down[:, j] -= h
        with np.errstate(all="ignore"):
            columns.append((problem.residuals(up, cells) - problem.residuals(down, cells)) / (2 * h)[:, None])
    return np.nan_to_num(np.stack(columns, axis=2), nan=0.0, posinf=0.0, neginf=0.0)


def _levenberg_marquardt(problem: _Problem, free: np.ndarray, cells: np.ndarray, lower: np.ndarray,
                         upper: np.ndarray, max_iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Refine each row of ``free`` (for cell ``cells[row]``) to a bounded least-squares minimum; returns (rows, costs)."""
    free = free.copy()
    residual = problem.residuals(free, cells)
    cost = _cost(residual)
    damping = np.full(len(free), 1e-3)
    active = np.isfinite(cost)
    for _ in range(max_iterations):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        step = _damped_step(_jacobian(problem, free[idx], cells[idx]), residual[idx], free[idx],
                            damping[idx], lower, upper)
        trial = np.clip(free[idx] + step, lower, upper)
        trial_residual = problem.residuals(trial, cells[idx])
        trial_cost = _cost(trial_residual)
        better = np.isfinite(trial_cost) & (trial_cost < cost[idx])
        gain = np.where(better, cost[idx] - trial_cost, 0.0)
        moved = np.abs(trial - free[idx]) > 1e-12 * (np.abs(free[idx]) + 1e-12)
        accepted = idx[better]
        free[accepted], residual[accepted], cost[accepted] = trial[better], trial_residual[better], trial_cost[better]
        damping[idx] = np.where(better, np.maximum(damping[idx] / 3, 1e-12), damping[idx] * 4)
        done = (better & (gain <= 1e-12 * cost[idx])) | ~moved.any(axis=1) | (damping[idx] > 1e12)
        active[idx[done]] = False
    return free, cost


def _damped_step(jac: np.ndarray, residual: np.ndarray, free: np.ndarray, damping: np.ndarray,
                 lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Each row's Levenberg-Marquardt step, parameters pinned at a bound (gradient pointing out) held."""
    transposed = jac.transpose(0, 2, 1)
    gradient = (transposed @ residual[..., None])[..., 0]
    normal = transposed @ jac
    pinned = ((free <= lower) & (gradient > 0)) | ((free >= upper) & (gradient < 0))
    diagonal = np.diagonal(normal, axis1=1, axis2=2)
    floor = np.maximum(1e-12 * diagonal.max(axis=1, initial=0.0), 1e-30)[:, None]
    scaled = np.maximum(diagonal, floor)
    eye = np.eye(free.shape[1])
    system = normal + damping[:, None, None] * scaled[:, :, None] * eye
    keep = ~pinned
    system = system * (keep[:, :, None] & keep[:, None, :]) + pinned[:, :, None] * eye
    return np.linalg.solve(system, -(gradient * keep)[..., None])[..., 0]


def _results(model: KineticsModel, t: np.ndarray, y: np.ndarray, valid: np.ndarray, free: np.ndarray,
             n_points: np.ndarray, reason: np.ndarray) -> CellFits:
    """Every parameter, the bound flags and the fit quality of each cell."""
    success = reason == ""
    values = {p.name: np.where(success, p.initial, np.nan) for p in model.parameters}
    at_bound = {}
    for j, p in enumerate(model.free):
        values[p.name] = np.where(success, free[:, j], np.nan)
        at_bound[p.name] = success & (np.isclose(free[:, j], p.lower, rtol=1e-6, atol=1e-9)
                                      | np.isclose(free[:, j], p.upper, rtol=1e-6, atol=1e-9))
    fitted = model.evaluate(np.where(valid, t, 0.0), {k: v[:, None] for k, v in values.items()})
    with np.errstate(all="ignore"):
        data = np.where(valid, y, np.nan)
        ss_res = np.nansum(np.where(valid, (fitted - y) ** 2, 0.0), axis=1)
        mean = np.nansum(np.where(valid, y, 0.0), axis=1) / np.maximum(n_points, 1)
        ss_tot = np.nansum(np.where(valid, (data - mean[:, None]) ** 2, 0.0), axis=1)
    return CellFits(
        model=model.name, values=values, at_bound=at_bound,
        r_squared=np.where(success, r_squared(ss_res, ss_tot), np.nan),
        rmse=np.where(success, rmse(ss_res, n_points), np.nan),
        n_points=n_points, success=success, reason=reason.astype(str),
    )
