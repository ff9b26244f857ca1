"""laptrack's gap-closing candidates found with numpy, the same candidates and costs as laptrack's own.

laptrack (0.17) finds the gap-closing candidates of every track segment with
a pandas filter and a row-wise ``DataFrame.apply`` over the segments of the
gap-closing window: a few milliseconds per segment, quadratic in segments
(on the 6-frame real nuclei two thirds of the tracking time, more than the
segmentation). :class:`FastGapClosingLapTrack` overrides that one method
with a numpy mask per segment and one ``cdist`` call; everything else,
and the resulting tracks, are laptrack's (tests compare both on the same
segments). It also splits laptrack's ``predict`` in its two stages, so that
the frame-to-frame links, computed first to weigh what gap closing would
cost, are not computed again.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from laptrack import LapTrack
from laptrack._coo_matrix_builder import coo_matrix_builder
from scipy.spatial.distance import cdist


def directed(tree: nx.Graph) -> nx.DiGraph:
    """laptrack's undirected track graph with every edge pointing forward in time, as ``predict`` returns it."""
    result = nx.DiGraph()
    result.add_nodes_from(tree.nodes())
    result.add_edges_from((a, b) if a[0] < b[0] else (b, a) for a, b in tree.edges())
    return result


class FastGapClosingLapTrack(LapTrack):
    """:class:`laptrack.LapTrack` whose gap-closing candidates are found with numpy, ``predict`` in two stages."""

    def frame_links(self, coords: list[np.ndarray]) -> nx.Graph:
        """The frame-to-frame links alone (``predict``'s first stage, no known edges), undirected."""
        return self._predict_links(coords, [], [])

    def predict_from_links(self, coords: list[np.ndarray], frame_links: nx.Graph) -> nx.DiGraph:
        """``predict(coords)`` continued from its first stage's :meth:`frame_links`: gap closing and splitting."""
        return directed(self._predict_gap_split_merge(coords, frame_links.copy(), [], []))

    def _get_gap_closing_matrix(
        self, segments_df: pd.DataFrame, *, force_end_nodes: Any = (), force_start_nodes: Any = ()
    ) -> tuple[pd.DataFrame, Any]:
        """The segments with their ``gap_closing_candidates`` column, and the gap-closing cost matrix.

        For each segment not forced to end: the segments starting 1 to
        ``gap_closing_max_frame_count`` frames after its last frame, not
        forced to start, whose first position lies within
        ``gap_closing_cutoff`` (by ``gap_closing_metric``) of its last one.
        """
        n_segments = len(segments_df)
        candidates: list[tuple[Any, Any]] = [([], [])] * n_segments
        if self.gap_closing_cutoff and n_segments:
            candidates = self._gap_closing_candidates(segments_df, set(force_end_nodes), set(force_start_nodes))
        segments_df["gap_closing_candidates"] = pd.Series(candidates, index=segments_df.index, dtype=object)
        matrix = coo_matrix_builder((n_segments, n_segments), dtype=np.float32)
        for row, (columns, costs) in zip(segments_df.index, candidates):
            matrix[(int(row), columns)] = costs
        return segments_df, matrix

    def _gap_closing_candidates(
        self, segments_df: pd.DataFrame, force_end: set, force_start: set
    ) -> list[tuple[Any, Any]]:
        index = segments_df.index.to_numpy()
        first_frame = segments_df["first_frame"].to_numpy()
        first_coords = np.stack(segments_df["first_frame_coords"].to_numpy())
        may_start = np.array([(int(f), int(i)) not in force_start
                              for f, i in zip(first_frame, segments_df["first_index"])])
        candidates: list[tuple[Any, Any]] = []
        for last_frame, last_index, last_coords in zip(
            segments_df["last_frame"], segments_df["last_index"], segments_df["last_frame_coords"]
        ):
            frame_diff = first_frame - last_frame
            window = np.flatnonzero((frame_diff >= 1) & (frame_diff <= self.gap_closing_max_frame_count) & may_start)
            if (int(last_frame), int(last_index)) in force_end or window.size == 0:
                candidates.append(([], []))
                continue
            costs = cdist([last_coords], first_coords[window], metric=self.gap_closing_metric)[0]
            close = np.flatnonzero(costs < self.gap_closing_cutoff)
            candidates.append((index[window[close]], costs[close]))
        return candidates
