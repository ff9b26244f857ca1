"""Whether an output is complete, for every kind of output a step writes.

A task writes its output, then records that it is complete, with the
fingerprint of what produced it (:mod:`pyama_dask.pipeline.plan`), as its very
last write; before writing it clears that record. A half-written output is
therefore never taken as complete, and a complete one whose fingerprint
matches the plan is not computed again.

Two kinds of output carry the record:

- a Zarr group of the store (an image, the corrected fluorescence): the
  record is ``attrs["pyama"]["complete"]``; Zarr's local store replaces
  metadata documents atomically, so a run killed while writing it leaves
  the previous document intact;
- a file (a trace table): the record is a marker file ``<file>.done`` beside
  it, written after the file has been moved into place.

Outputs are named by :class:`~pyama_dask.io.store.ImageRef` or by their
path (a Zarr group's folder, or a file), as the results file lists them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Union

import zarr

from pyama_dask.rundir.atomic import write_text_atomic

if TYPE_CHECKING:
    from pyama_dask.io.store import ImageRef

logger = logging.getLogger(__name__)

#: What a step writes: a group of the store, or a file.
Output = Union["ImageRef", Path]

#: Key of the completion record in a group's ``attrs["pyama"]``.
COMPLETE_KEY = "complete"


def completed_fingerprint(output: Output) -> str | None:
    """The fingerprint of a complete output, or None if it is absent, partial or unreadable."""
    if _is_group(output):
        try:
            group = zarr.open_group(_location(output), mode="r", zarr_format=3)
            return group.attrs.get("pyama", {}).get(COMPLETE_KEY)
        except (FileNotFoundError, KeyError, ValueError, zarr.errors.BaseZarrError) as exc:
            logger.debug("%s is not complete: %s", output, exc)
            return None
    marker = _marker(output)
    if not (marker.is_file() and output.is_file()):
        return None
    return marker.read_text().strip() or None


def mark_complete(output: Output, fingerprint: str) -> None:
    """Record that ``output`` holds all its data, made as ``fingerprint`` describes."""
    if _is_group(output):
        _set_record(output, fingerprint)
    else:
        write_text_atomic(_marker(output), fingerprint)


def clear_complete(output: Output) -> None:
    """Forget that ``output`` is complete, before it is written again (nothing to do when it is absent)."""
    if not _is_group(output):
        _marker(output).unlink(missing_ok=True)
    elif completed_fingerprint(output) is not None:
        _set_record(output, None)


def _is_group(output: Output) -> bool:
    return not isinstance(output, Path) or (output / "zarr.json").is_file()


def _location(output: Output) -> Path:
    return output if isinstance(output, Path) else output.location


def _set_record(output: Output, fingerprint: str | None) -> None:
    group = zarr.open_group(_location(output), mode="r+", zarr_format=3)
    group.attrs["pyama"] = {**dict(group.attrs.get("pyama", {})), COMPLETE_KEY: fingerprint}


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".done")
