"""Every kernel is compiled without the GIL and cached; an unwritable cache directory is reported."""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys

import numba
import pytest

from pyama_dask.algorithms import background_kernels, kernels, morphology_kernels, segmentation_kernels

KERNEL_MODULES = (segmentation_kernels, morphology_kernels, background_kernels)


@pytest.mark.parametrize("module", KERNEL_MODULES, ids=lambda module: module.__name__.rsplit(".", 1)[-1])
def test_kernels_release_the_gil_and_are_cached(module):
    dispatchers = [value for value in vars(module).values() if isinstance(value, numba.core.dispatcher.Dispatcher)]
    assert dispatchers
    for dispatcher in dispatchers:
        assert dispatcher.targetoptions.get("nogil") is True, dispatcher.__name__
        assert type(dispatcher._cache).__name__ == "FunctionCache", dispatcher.__name__


def test_an_unwritable_cache_directory_is_logged(monkeypatch, caplog):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with caplog.at_level(logging.INFO, logger=kernels.__name__):
        importlib.reload(kernels)
    assert "not writable" in caplog.text
    assert "__pycache__" in caplog.text


def test_importing_the_algorithms_does_not_import_numba():
    # Only a process that computes frames pays numba's import.
    code = "import sys, pyama_dask.algorithms, pyama_dask.pipeline.steps; print('numba' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
