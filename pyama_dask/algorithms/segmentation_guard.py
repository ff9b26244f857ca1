"""Guarded segmentation: a threshold checked frame by frame, with robust fallbacks (docs/algorithms.md, sections 6.2-6.6).

PyAMA-core's LOG-STD threshold (``mode + sigma_factor * sigma`` of the
log-std histogram) fails on real data in ways that look like success: on a
dark fluorescence frame where most pixels are exactly 0, the histogram's mode
is the flat floor, its sigma is ~0, and the mask covers nearly the whole
frame as one object. This module adds, each selectable on its own:

- ``threshold_method``: the per-frame threshold. ``"logstd-mode"`` is
  PyAMA-core's rule on the log-std image; ``"otsu"`` and ``"li"`` are
  scikit-image's, applied to the image of the channel's kind: the log-std for
  transmitted light (phase contrast, brightfield), the log of the smoothed
  intensity above the frame's floor for fluorescence (nuclei are bright on a
  dark background; the log keeps dim nuclei above the threshold in frames
  where bright ones set the scale).
- ``image_kind``: ``"transmitted"``, ``"fluorescence"`` or ``"auto"``
  (decided once per stack from a few frames: fluorescence when the bright
  tail of the intensity histogram is much longer than its dark tail).
- ``segmentation_guard``: every frame's mask is checked; a degenerate one
  (mask above ``max_mask_fraction`` of the frame, a log-std mode sitting on
  flat zero-variance pixels, or a mask ``NEIGHBOUR_AREA_RATIO`` times larger
  than the recent frames') is segmented again with the other scikit-image
  method (Otsu, or Li when Otsu was the first choice), and left empty when
  that mask is degenerate too. A mask ``NEIGHBOUR_AREA_RATIO`` times smaller
  than the recent frames' (a dim frame) is replaced by the fallback only
  when that one is like the neighbours' masks. Noise is caught too: a mask
  of ``OBJECT_COUNT_RATIO`` times more objects than the recent frames', or
  a noise-like mask (at least ``NOISE_MIN_OBJECTS`` objects whose median
  area is within ``NOISE_AREA_RATIO`` of the smallest object the cleanup
  leaves: the threshold cut the frame's own noise, as in very low-contrast
  frames) falls back in the same way; a noise-like mask does not count
  among the recent frames' masks. Every fallback is logged and returned
  per frame.
- ``smoothing_sigma``: a Gaussian smoothing of the frame (sigma in px)
  before its threshold, off (0) by default.
- ``min_object_area``: objects of fewer pixels are dropped.
- ``watershed``: touching cells (objects larger than ``SPLIT_AREA_RATIO``
  times the frame's median object) are split along the watershed of the
  distance transform, seeded at its maxima (``peak_local_max``), with a
  1-pixel background line between the parts so that they stay separate
  4-connected regions in the boolean mask.

With every switch at its default the result is :func:`segment_logstd`'s,
bit for bit.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.filters import gaussian, threshold_li, threshold_otsu
from skimage.measure import label
from skimage.morphology import remove_small_objects
from skimage.segmentation import watershed as watershed_transform

from pyama_dask.algorithms.options import IMAGE_KINDS, THRESHOLD_METHODS
from pyama_dask.algorithms.segmentation import clean_mask, histogram_threshold, local_log_std
from pyama_dask.algorithms.stacks import check_stack, frame_blocks

logger = logging.getLogger(__name__)

#: Gaussian sigma (px) of the smoothing of fluorescence before its threshold:
#: it averages shot noise so that a nucleus is one connected region.
FLUORESCENCE_SIGMA_PX = 1.0
#: "auto" takes a stack for fluorescence when (p99.5 - p50) of its
#: intensities is at least this many times (p50 - p0.5). Measured: phase
#: contrast 0.3, brightfield 1.0-1.3, fluorescent nuclei 5-6, dark frames inf.
FLUORESCENCE_TAIL_RATIO = 2.5
#: Frames sampled (evenly spread) to decide the kind of an "auto" stack.
KIND_SAMPLE_FRAMES = 5
#: The log-std mode is the floor, not a noise level, when more than this
#: share of the pixels has zero local variance (clipped or empty frames).
MAX_FLAT_FRACTION = 0.5
#: A mask larger than NEIGHBOUR_AREA_RATIO times the median area of the first
#: masks of the last NEIGHBOUR_FRAMES frames (plus NEIGHBOUR_SLACK of the
#: frame, so that nearly empty frames do not trip it) is unlike its neighbours.
NEIGHBOUR_FRAMES = 5
NEIGHBOUR_AREA_RATIO = 3.0
NEIGHBOUR_SLACK = 0.02
#: The watershed splits objects larger than this many times the frame's
#: median object, with seeds at least SEED_DISTANCE_SHARE of the typical
#: radius (from that median area) apart.
SPLIT_AREA_RATIO = 1.5
SEED_DISTANCE_SHARE = 0.7
#: A mask with more than OBJECT_COUNT_RATIO times the median object count of
#: the recent frames' first masks (plus OBJECT_COUNT_SLACK, so that nearly
#: empty frames do not trip it) is an explosion of objects: noise.
OBJECT_COUNT_RATIO = 10.0
OBJECT_COUNT_SLACK = 20
#: A mask of at least NOISE_MIN_OBJECTS objects whose median area is at most
#: NOISE_AREA_RATIO times the smallest object the cleanup leaves is noise
#: grains, not cells. Measured on a real nuclei movie brought to 3 grey
#: levels of contrast: 1,100-1,600 objects of median area 1.1-1.5 times the
#: smallest; its sound frames: 35-46 objects of 13 times the smallest. Few
#: real frames hold 500 cells, fewer of them of nearly the smallest size
#: the cleanup leaves (PyAMA-core's opening leaves 361 px).
NOISE_MIN_OBJECTS = 500
NOISE_AREA_RATIO = 2.0


@dataclass
class SegmentationQC:
    """What the guarded segmentation of a stack decided.

    Attributes
    ----------
    image_kind : str
        ``"transmitted"`` or ``"fluorescence"`` (the resolved ``"auto"``).
    fallback_frames : list of dict
        One record per frame whose first mask was degenerate: ``frame``,
        ``reason`` (what was wrong) and ``fallback`` (the method used
        instead, or ``"empty"``).
    """

    image_kind: str
    fallback_frames: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form, for the store's attributes."""
        return {"image_kind": self.image_kind, "fallback_frames": list(self.fallback_frames)}


def segment_guarded_stack(
    stack: Any,
    out: Any,
    *,
    window: int = 3,
    bins: int = 200,
    sigma_factor: float = 3.0,
    morph_size: int = 7,
    morph_iterations: int = 3,
    image_kind: str = "transmitted",
    threshold_method: str = "logstd-mode",
    segmentation_guard: bool = False,
    max_mask_fraction: float = 0.7,
    watershed: bool = False,
    min_object_area: int = 0,
    smoothing_sigma: float = 0.0,
    fov: int | None = None,
) -> SegmentationQC:
    """Segment every frame of a (T, H, W) stack into ``out``, checking each frame.

    Parameters
    ----------
    stack : array-like
        (T, H, W) image stack, numpy or Zarr, read one chunk of frames at a time.
    out : array-like
        (T, H, W) boolean array written block by block.
    window, bins, sigma_factor, morph_size, morph_iterations
        As in :func:`~pyama_dask.algorithms.segmentation.segment_logstd`;
        the cleanup (hole filling, opening then closing with a square)
        applies to every method.
    image_kind : str
        One of ``IMAGE_KINDS``.
    threshold_method : str
        One of ``THRESHOLD_METHODS``.
    segmentation_guard : bool
        Check every frame and fall back on degenerate ones.
    max_mask_fraction : float
        Largest share of the frame a non-degenerate mask covers.
    watershed : bool
        Split touching cells.
    min_object_area : int
        Drop objects of fewer pixels (0: keep all).
    smoothing_sigma : float
        Gaussian sigma (px) of a smoothing of every frame before its
        threshold (0: none).
    fov : int, optional
        Field of view, named in the log messages.

    Returns
    -------
    SegmentationQC
        The resolved kind and the per-frame fallback records.
    """
    check_stack(stack, "stack")
    check_stack(out, "out", like=stack)
    if image_kind not in IMAGE_KINDS:
        raise ValueError(f"image_kind must be one of {', '.join(IMAGE_KINDS)}, got {image_kind!r}")
    if threshold_method not in THRESHOLD_METHODS:
        raise ValueError(f"threshold_method must be one of {', '.join(THRESHOLD_METHODS)}, got {threshold_method!r}")
    where = "" if fov is None else f"FOV {fov} "
    kind = detect_image_kind(stack) if image_kind == "auto" else image_kind
    if image_kind == "auto":
        logger.info("%ssegmentation: the stack looks like %s", where, kind)
    segmenter = FrameSegmenter(
        kind,
        threshold_method,
        window=window,
        bins=bins,
        sigma_factor=sigma_factor,
        morph_size=morph_size,
        morph_iterations=morph_iterations,
        watershed=watershed,
        min_object_area=min_object_area,
        smoothing_sigma=smoothing_sigma,
    )
    guard = FrameGuard(max_mask_fraction, segmenter.smallest_object_area) if segmentation_guard else None
    qc = SegmentationQC(kind)
    for frames, block in frame_blocks(stack):
        masks = []
        for t, image in zip(range(frames.start, frames.stop), block):
            mask, record = segmenter.segment(image, guard)
            if record is not None:
                logger.warning(
                    "%sframe %d: %s; segmented with %s instead", where, t, record["reason"], record["fallback"]
                )
                qc.fallback_frames.append({"frame": t, **record})
            masks.append(mask)
        out[frames] = np.stack(masks)
    return qc


def detect_image_kind(stack: Any) -> str:
    """``"fluorescence"`` or ``"transmitted"``, from a few frames of a (T, H, W) stack.

    Fluorescent objects are bright on a dark background, so the bright tail
    of the intensity histogram is much longer than the dark one; in
    transmitted light cells show as both darker and brighter than the
    background (see ``FLUORESCENCE_TAIL_RATIO``).
    """
    n_frames = stack.shape[0]
    sampled = np.unique(np.linspace(0, n_frames - 1, min(n_frames, KIND_SAMPLE_FRAMES)).round().astype(int))
    ratios = []
    for t in sampled:
        low, middle, high = np.percentile(np.asarray(stack[int(t)], dtype=np.float64), (0.5, 50, 99.5))
        ratios.append((high - middle) / (middle - low) if middle > low else np.inf)
    return "fluorescence" if np.median(ratios) >= FLUORESCENCE_TAIL_RATIO else "transmitted"


@dataclass(frozen=True)
class MaskStats:
    """What the guard looks at in a mask.

    Attributes
    ----------
    fraction : float
        Share of the frame the mask covers.
    n_objects : int
        Its 4-connected objects.
    median_area : float
        Their median area (px; 0 without objects).
    """

    fraction: float
    n_objects: int
    median_area: float

    @classmethod
    def of(cls, mask: np.ndarray) -> MaskStats:
        """Measure a boolean mask."""
        objects, n_objects = label(mask, connectivity=1, return_num=True)
        areas = np.bincount(objects.ravel())[1:]
        return cls(float(mask.mean()), int(n_objects), float(np.median(areas)) if n_objects else 0.0)


class FrameGuard:
    """Judges a frame's mask against bounds and against the recent frames' masks.

    The neighbour checks compare with the first masks of the recent frames,
    whatever became of them, so a lasting change (cells filling the field,
    or leaving it) is accepted after a few frames while a single odd frame
    is not. Noise-like masks are not among them: a run of noise frames,
    however long, is no lasting change of the cells. The object counts
    compared with are those of the recent sound first masks only (a mask
    covering the frame is one object).

    Parameters
    ----------
    max_mask_fraction : float
        Largest share of the frame a non-degenerate mask covers.
    smallest_object_area : int
        Area (px) of the smallest object the segmentation's cleanup leaves.
    """

    def __init__(self, max_mask_fraction: float, smallest_object_area: int = 1) -> None:
        self.max_mask_fraction = max_mask_fraction
        self.smallest_object_area = smallest_object_area
        self._recent_fractions: deque[float] = deque(maxlen=NEIGHBOUR_FRAMES)
        self._recent_counts: deque[int] = deque(maxlen=NEIGHBOUR_FRAMES)

    def observe(self, stats: MaskStats) -> None:
        """Add a frame's first mask to the recent ones (after judging it), unless it is noise."""
        if self.noise(stats) is not None:
            return
        if self.degenerate(stats) is None:
            self._recent_counts.append(stats.n_objects)
        self._recent_fractions.append(stats.fraction)

    def degenerate(self, stats: MaskStats) -> str | None:
        """Why a mask is no segmentation (too large, far larger than the recent ones, noise), or None."""
        if stats.fraction > self.max_mask_fraction:
            return f"mask covers {stats.fraction:.0%} of the frame (bound {self.max_mask_fraction:.0%})"
        usual = self._usual_fraction()
        if usual is not None and stats.fraction > NEIGHBOUR_AREA_RATIO * usual + NEIGHBOUR_SLACK:
            return f"mask covers {stats.fraction:.1%} of the frame, the recent frames' {usual:.1%}"
        return self.noise(stats)

    def noise(self, stats: MaskStats) -> str | None:
        """Why a mask looks like noise (an explosion of objects, or noise grains), or None."""
        if stats.n_objects >= NOISE_MIN_OBJECTS and stats.median_area <= NOISE_AREA_RATIO * self.smallest_object_area:
            return (
                f"noise-like mask: {stats.n_objects} objects of median area {stats.median_area:.0f} px, "
                f"near the smallest the cleanup leaves ({self.smallest_object_area} px)"
            )
        if self._recent_counts:
            usual = float(np.median(self._recent_counts))
            if stats.n_objects > OBJECT_COUNT_RATIO * usual + OBJECT_COUNT_SLACK:
                return f"object count exploded: {stats.n_objects} objects, the recent frames' {usual:.0f}"
        return None

    def too_small(self, stats: MaskStats) -> str | None:
        """Why a mask is suspiciously smaller than the recent ones, or None."""
        usual = self._usual_fraction()
        if usual is not None and stats.fraction < (usual - NEIGHBOUR_SLACK) / NEIGHBOUR_AREA_RATIO:
            return f"mask covers {stats.fraction:.1%} of the frame, the recent frames' {usual:.1%}"
        return None

    def _usual_fraction(self) -> float | None:
        return float(np.median(self._recent_fractions)) if self._recent_fractions else None


class FrameSegmenter:
    """Segments frames of one kind with one method, falling back when a guard objects.

    Parameters
    ----------
    kind : str
        ``"transmitted"`` or ``"fluorescence"``.
    method : str
        One of ``THRESHOLD_METHODS``.
    window, bins, sigma_factor, morph_size, morph_iterations, watershed, min_object_area, smoothing_sigma
        As in :func:`segment_guarded_stack`.
    """

    def __init__(
        self,
        kind: str,
        method: str,
        *,
        window: int,
        bins: int,
        sigma_factor: float,
        morph_size: int,
        morph_iterations: int,
        watershed: bool,
        min_object_area: int,
        smoothing_sigma: float = 0.0,
    ) -> None:
        self.kind = kind
        self.method = method
        self.fallback = "li" if method == "otsu" else "otsu"
        self.window, self.bins, self.sigma_factor = window, bins, sigma_factor
        self.morph_size, self.morph_iterations = morph_size, morph_iterations
        self.watershed, self.min_object_area = watershed, min_object_area
        self.smoothing_sigma = smoothing_sigma

    @property
    def smallest_object_area(self) -> int:
        """Area (px) of the smallest object the cleanup leaves: the opening's square, or min_object_area."""
        width = self.morph_iterations * (self.morph_size - 1) + 1
        return max(width * width, self.min_object_area)

    def segment(self, image: np.ndarray, guard: FrameGuard | None) -> tuple[np.ndarray, dict | None]:
        """The mask of one frame and, when the first one was degenerate, the fallback record."""
        image = np.asarray(image)
        if image.ndim != 2:
            raise ValueError(f"frame must be 2-D, got shape {image.shape}")
        if self.smoothing_sigma > 0:
            image = gaussian(image.astype(np.float32), self.smoothing_sigma, preserve_range=True)
        raw, threshold_problem = self.foreground(image, self.method)
        mask = self.finish(raw)
        if guard is None:
            return mask, None
        stats = MaskStats.of(mask)
        degenerate = threshold_problem or guard.degenerate(stats)
        too_small = None if degenerate else guard.too_small(stats)
        if not (degenerate or too_small):
            guard.observe(stats)
            return mask, None
        raw, fallback_problem = self.foreground(image, self.fallback)
        fallback = self.finish(raw)
        fallback_stats = MaskStats.of(fallback)
        usable = fallback_problem is None and guard.degenerate(fallback_stats) is None
        guard.observe(stats)
        if degenerate:
            if usable:
                return fallback, {"reason": degenerate, "fallback": self.fallback}
            return np.zeros(image.shape, dtype=bool), {"reason": degenerate, "fallback": "empty"}
        # Merely small (cells may leave, a frame may be dim): a fallback like
        # the neighbours' masks replaces it, else it stays.
        if usable and guard.too_small(fallback_stats) is None:
            return fallback, {"reason": too_small, "fallback": self.fallback}
        return mask, None

    def foreground(self, image: np.ndarray, method: str) -> tuple[np.ndarray, str | None]:
        """Pixels above the frame's threshold, and what makes that threshold degenerate (or None)."""
        if method == "logstd-mode":
            log_std = local_log_std(image, self.window)
            flat = float(np.mean(log_std == 0))
            threshold = histogram_threshold(log_std, bins=self.bins, sigma_factor=self.sigma_factor)
            problem = None
            if flat > MAX_FLAT_FRACTION:
                problem = f"{flat:.0%} of the frame is flat (zero local variance): the log-std mode is its floor"
            return log_std > threshold, problem
        values = threshold_image(image, self.kind, self.window)
        if np.ptp(values) == 0:  # nothing to separate: no threshold exists
            return np.zeros(image.shape, dtype=bool), "the frame is uniform"
        pick = threshold_otsu if method == "otsu" else threshold_li
        return values > pick(values), None

    def finish(self, raw: np.ndarray) -> np.ndarray:
        """Cleanup, size filter and watershed split of a raw foreground."""
        mask = clean_mask(raw, self.morph_size, self.morph_iterations)
        if self.min_object_area > 1:
            # Objects of at most max_size pixels go: "fewer than min_object_area".
            mask = remove_small_objects(mask, max_size=self.min_object_area - 1)
        if self.watershed:
            mask = split_touching(mask)
        return mask


def threshold_image(image: np.ndarray, kind: str, window: int) -> np.ndarray:
    """The image Otsu or Li threshold: log-std (transmitted) or log smoothed intensity (fluorescence).

    For fluorescence the frame is smoothed (``FLUORESCENCE_SIGMA_PX``), its
    floor (minimum) subtracted and ``log1p`` taken: thresholds then act on
    intensity ratios, the same for a dim frame as for a bright one.
    """
    if kind == "transmitted":
        return local_log_std(image, window)
    smooth = gaussian(image.astype(np.float32), FLUORESCENCE_SIGMA_PX, preserve_range=True)
    return np.log1p(smooth - smooth.min())


def split_touching(mask: np.ndarray) -> np.ndarray:
    """Split touching cells of a boolean mask along watershed lines of the distance transform.

    Only objects larger than ``SPLIT_AREA_RATIO`` times the frame's median
    object are split (touching cells make large objects; a single cell,
    however irregular, is left whole). Their seeds are the maxima of the
    distance to the background at least ``SEED_DISTANCE_SHARE`` times the
    typical radius apart; an object that gets no seed keeps one at its
    deepest pixel, so no object is lost.

    Returns
    -------
    numpy.ndarray
        Boolean mask with a 1-pixel background line between split parts.
    """
    objects, n_objects = label(mask, connectivity=1, return_num=True)
    if n_objects == 0:
        return mask
    areas = np.bincount(objects.ravel())[1:]
    typical_area = float(np.median(areas))
    large = np.flatnonzero(areas > SPLIT_AREA_RATIO * typical_area) + 1
    if large.size == 0:
        return mask
    candidates = np.where(np.isin(objects, large), objects, 0)
    distance = ndimage.distance_transform_edt(candidates > 0)
    min_distance = max(2, round(SEED_DISTANCE_SHARE * np.sqrt(typical_area / np.pi)))
    peaks = peak_local_max(distance, min_distance=min_distance, labels=candidates, exclude_border=False)
    seeds = np.zeros(mask.shape, dtype=np.int32)
    seeds[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    unseeded = np.setdiff1d(large, candidates[tuple(peaks.T)])
    if unseeded.size:
        deepest = ndimage.maximum_position(distance, candidates, unseeded)
        seeds[tuple(np.array(deepest).T)] = np.arange(len(peaks) + 1, len(peaks) + unseeded.size + 1)
    regions = watershed_transform(-distance, seeds, mask=candidates > 0, watershed_line=True)
    return (mask & (candidates == 0)) | (regions > 0)
