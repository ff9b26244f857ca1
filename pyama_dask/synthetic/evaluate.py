"""How well extracted traces recover a synthetic dataset's ground truth."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from pyama_dask.synthetic.truth import fluorescence_column


@dataclass(frozen=True)
class TraceAccuracy:
    """Agreement of one FOV's traces of one channel with the truth.

    Attributes
    ----------
    true_cells : int
        Cells of the truth table (present in at least one frame).
    trackable_cells : int
        True cells present from the first frame on for at least ``min_frames``
        frames: the ones PyAMA-core's tracking (tracks start in frame 0 only)
        and its trace-length filter can keep.
    recovered_cells : int
        True cells followed by at least one trace.
    recovered_fraction : float
        ``recovered_cells / trackable_cells``.
    median_position_error_px : float
        Median distance between a trace row's position and its true cell's centre.
    intensity_correlation : float
        Pearson correlation of ``intensity_total`` with the true total fluorescence
        over the matched rows (NaN with fewer than 3 rows).
    matched_rows : int
        Trace rows lying on a true cell.
    """

    true_cells: int
    trackable_cells: int
    recovered_cells: int
    recovered_fraction: float
    median_position_error_px: float
    intensity_correlation: float
    matched_rows: int

    def to_dict(self) -> dict:
        return asdict(self)


def score_traces(
    traces: pd.DataFrame, truth: pd.DataFrame, channel: int, max_distance: float = 8.0, min_frames: int = 1
) -> TraceAccuracy:
    """Match trace rows to true cells by position and score the result.

    Parameters
    ----------
    traces
        One FOV's trace table (columns of :data:`~pyama_dask.algorithms.extraction.TRACE_COLUMNS`).
    truth
        The truth table rows of the same FOV.
    channel
        The traces' fluorescence channel (index in the image file).
    max_distance
        Largest distance (px) between a trace position and a true centre for a match.
    min_frames
        Frames a cell must be present from the first frame on to count as
        trackable (the run's ``min_trace_length``).

    Returns
    -------
    TraceAccuracy
    """
    present = truth[truth["present"]]
    trackable = _present_from_start(truth, min_frames)
    rows = _match_rows(traces, present, max_distance)
    matched = rows.dropna(subset=["true_cell"])
    followed = matched.groupby("cell")["true_cell"].agg(lambda s: s.mode().iloc[0]) if len(matched) else pd.Series()
    recovered = set(followed.astype(int)) & trackable
    truth_fl = present.set_index(["frame", "cell"])[fluorescence_column(channel)]
    true_values = truth_fl.reindex(list(zip(matched["frame"], matched["true_cell"].astype(int)))).to_numpy()
    correlation = (
        float(np.corrcoef(matched["intensity_total"], true_values)[0, 1]) if len(matched) >= 3 else float("nan")
    )
    return TraceAccuracy(
        true_cells=int(present["cell"].nunique()),
        trackable_cells=len(trackable),
        recovered_cells=len(recovered),
        recovered_fraction=len(recovered) / len(trackable) if trackable else float("nan"),
        median_position_error_px=float(matched["distance"].median()) if len(matched) else float("nan"),
        intensity_correlation=correlation,
        matched_rows=len(matched),
    )


def _present_from_start(truth: pd.DataFrame, min_frames: int) -> set[int]:
    """Cells present in every one of the first ``min_frames`` frames."""
    frames = sorted(truth["frame"].unique())[:min_frames]
    first = truth[truth["frame"].isin(frames)]
    always = first.groupby("cell")["present"].all()
    return set(always[always].index.astype(int)) if len(frames) == min_frames else set()


def _match_rows(traces: pd.DataFrame, present: pd.DataFrame, max_distance: float) -> pd.DataFrame:
    """Each trace row with its nearest true cell of the same frame (NaN beyond ``max_distance``)."""
    parts = []
    for frame, rows in traces.groupby("frame"):
        cells = present[present["frame"] == frame]
        rows = rows.copy()
        rows["true_cell"], rows["distance"] = np.nan, np.nan
        if len(cells):
            tree = cKDTree(cells[["x", "y"]].to_numpy())
            distance, index = tree.query(rows[["position_x", "position_y"]].to_numpy())
            close = distance <= max_distance
            rows.loc[close, "true_cell"] = cells["cell"].to_numpy()[index[close]]
            rows.loc[close, "distance"] = distance[close]
        parts.append(rows)
    return pd.concat(parts) if parts else traces.assign(true_cell=np.nan, distance=np.nan)


@dataclass(frozen=True)
class TrackingAccuracy:
    """How completely and how cleanly traces follow every true cell, late ones included.

    Attributes
    ----------
    eligible_cells : int
        True cells present in at least ``min_frames`` frames, whenever they appear.
    late_cells : int
        Eligible cells that appear after the first frame.
    recovered_cells : int
        Eligible cells that one trace follows over at least ``coverage`` of
        the frames they are present in.
    recovered_late_cells : int
        Late cells among them.
    recovered_fraction : float
        ``recovered_cells / eligible_cells``.
    id_switches : int
        Times a trace's matched true cell changes from one matched row to the next.
    fragmented_cells : int
        Eligible cells whose matched rows belong to more than one trace.
    """

    eligible_cells: int
    late_cells: int
    recovered_cells: int
    recovered_late_cells: int
    recovered_fraction: float
    id_switches: int
    fragmented_cells: int

    def to_dict(self) -> dict:
        return asdict(self)


def score_tracking(
    traces: pd.DataFrame, truth: pd.DataFrame, *, min_frames: int = 1, max_distance: float = 8.0,
    coverage: float = 0.9,
) -> TrackingAccuracy:
    """Match trace rows to true cells by position and score the tracks, cells appearing late included.

    Parameters
    ----------
    traces
        One FOV's trace table of one channel.
    truth
        The truth table rows of the same FOV.
    min_frames
        Frames a true cell must be present in to be eligible (the run's
        minimum trace length in frames).
    max_distance
        Largest distance (px) between a trace position and a true centre for a match.
    coverage
        Share of a cell's frames one trace must follow for the cell to count as recovered.

    Returns
    -------
    TrackingAccuracy
    """
    present = truth[truth["present"]]
    frames_present = present.groupby("cell")["frame"].agg(["count", "min"])
    eligible = frames_present[frames_present["count"] >= min_frames]
    late = set(eligible.index[eligible["min"] > truth["frame"].min()].astype(int))
    matched = _match_rows(traces, present, max_distance).dropna(subset=["true_cell"])
    matched = matched.astype({"true_cell": int}).sort_values(["cell", "frame"])
    rows_per_pair = matched.groupby(["true_cell", "cell"]).size()
    followed = rows_per_pair.groupby(level="true_cell").max()
    needed = (coverage * eligible["count"]).reindex(followed.index)
    recovered = set(followed.index[followed >= needed]) & set(eligible.index.astype(int))
    switches = int(matched.groupby("cell")["true_cell"].agg(lambda s: int((s.diff().fillna(0) != 0).sum())).sum())
    traces_per_cell = rows_per_pair.groupby(level="true_cell").size()
    fragmented = set(traces_per_cell.index[traces_per_cell > 1]) & set(eligible.index.astype(int))
    return TrackingAccuracy(
        eligible_cells=len(eligible),
        late_cells=len(late),
        recovered_cells=len(recovered),
        recovered_late_cells=len(recovered & late),
        recovered_fraction=len(recovered) / len(eligible) if len(eligible) else float("nan"),
        id_switches=switches,
        fragmented_cells=len(fragmented),
    )


@dataclass(frozen=True)
class FitRecovery:
    """How well fits recover the kinetics parameters a synthetic dataset's cells follow.

    Attributes
    ----------
    matched_cells : int
        Fitted cells (``success``) whose trace follows a true cell.
    median_t0_error_min : float
        Median of ``|t0 - true t0|``, in minutes.
    median_relative_error : dict
        Parameter -> median of ``|value / true value - 1|``, for the fitted
        parameters other than ``t0`` and the offset.
    share_r2_above_0_9 : float
        Share of the matched cells whose fit has R^2 > 0.9.
    """

    matched_cells: int
    median_t0_error_min: float
    median_relative_error: dict[str, float]
    share_r2_above_0_9: float

    def to_dict(self) -> dict:
        return asdict(self)


def score_fits(fits: pd.DataFrame, traces: pd.DataFrame, truth: pd.DataFrame, kinetics: pd.DataFrame,
               parameters: tuple[str, ...] = ("ktl", "delta"), max_distance: float = 8.0) -> FitRecovery:
    """Match each fitted cell to the true cell its trace follows and compare parameters.

    Parameters
    ----------
    fits
        Fit table (``fits.parquet``): ``fov``, ``channel``, ``cell``, the parameters, ``success``, ``r_squared``.
    traces
        The traces the fits were made from (``traces.parquet``, with ``channel``).
    truth, kinetics
        The dataset's truth table and true kinetics table.
    parameters
        The parameters compared by relative error.
    """
    pairs = []
    for fov, rows in traces.groupby("fov"):
        truth_fov = truth[(truth["fov"] == fov) & truth["present"]]
        matched = _match_rows(rows, truth_fov, max_distance).dropna(subset=["true_cell"])
        follows = matched.groupby(["channel", "cell"])["true_cell"].agg(lambda s: s.mode().iloc[0])
        pairs.append(follows.rename("true_cell").reset_index().assign(fov=fov))
    links = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame(columns=["fov", "channel", "cell",
                                                                                     "true_cell"])
    links["true_cell"] = links["true_cell"].astype(int)
    fitted = fits[fits["success"]].merge(links, on=["fov", "channel", "cell"])
    both = fitted.merge(kinetics, left_on=["fov", "channel", "true_cell"], right_on=["fov", "channel", "cell"],
                        suffixes=("", "_true"))
    relative = {name: float(np.median(np.abs(both[name] / both[f"{name}_true"] - 1))) if len(both) else float("nan")
                for name in parameters}
    return FitRecovery(
        matched_cells=len(both),
        median_t0_error_min=float(np.median(np.abs(both["t0"] - both["t0_true"])) * 60) if len(both) else float("nan"),
        median_relative_error=relative,
        share_r2_above_0_9=float(np.mean(both["r_squared"] > 0.9)) if len(both) else float("nan"),
    )


def linked_divisions(truth: pd.DataFrame, labels: np.ndarray, parents: dict[int, int]) -> tuple[int, int]:
    """How many true divisions of one FOV the tracking linked, of how many.

    A division counts as linked when the tracked cell under the mother's
    centre in the frame before the division is the recorded parent of two
    different tracked cells, those under the daughters' centres in their
    first frame. Only divisions in view count: the mother present in the
    frame before, both daughters in the division frame (stage drift may
    carry cells out of the frame).

    Parameters
    ----------
    truth
        The FOV's truth table with its ``parent`` column (a spec with
        ``divisions``).
    labels
        (T, H, W) tracked cell ids.
    parents
        The tracking's lineage: daughter cell id -> mother cell id.

    Returns
    -------
    tuple of int
        Linked divisions and true divisions in view.
    """
    if "parent" not in truth.columns:
        raise ValueError("the truth table has no parent column: generate the dataset with divisions=True")
    present = truth[truth["present"]]
    daughters = truth[truth["parent"] > 0]
    position = present.set_index(["cell", "frame"])[["y", "x"]]

    def tracked(cell: int, frame: int) -> int:
        y, x = position.loc[(cell, frame)]
        return int(labels[frame, int(round(y)), int(round(x))])

    linked = in_view = 0
    for mother, pair in daughters[daughters["present"]].groupby("parent"):
        frame, cells = int(pair["frame"].min()), pair["cell"].unique()
        if (int(mother), frame - 1) not in position.index or any((c, frame) not in position.index for c in cells):
            continue
        in_view += 1
        tracked_mother = tracked(int(mother), frame - 1)
        found = {tracked(int(cell), frame) for cell in cells}
        linked += bool(tracked_mother) and len(found) == 2 and all(parents.get(c) == tracked_mother for c in found)
    return linked, in_view
