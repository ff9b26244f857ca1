"""Realistic synthetic time-lapse microscopy data with ground truth.

Phase contrast plus fluorescence channels of cells on a micropattern grid,
written as a multi-scene OME-TIFF (one scene per FOV) beside a per-cell,
per-frame truth table. See :func:`generate_dataset`.
"""

from pyama_dask.synthetic.dataset import SyntheticDataset, generate_dataset, load_spec, render_fov
from pyama_dask.synthetic.spec import SyntheticSpec
from pyama_dask.synthetic.truth import fluorescence_column, load_truth, true_labels

__all__ = [
    "SyntheticDataset",
    "SyntheticSpec",
    "fluorescence_column",
    "generate_dataset",
    "load_spec",
    "load_truth",
    "render_fov",
    "true_labels",
]
