"""Provenance of a run: package versions and the checksum of the input.

Recorded under ``provenance`` in ``processing_results.yaml`` so that a result
can be traced to the exact input bytes and software that made it. The input
is hashed while the cluster works (:class:`InputChecksum`); a checksum already
recorded for the same files (same paths, sizes and modification times) is
reused instead of reading the input again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
import threading
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Distributions whose versions a run records.
RECORDED_PACKAGES = (
    "pyama-dask", "numpy", "scipy", "scikit-image", "pandas", "dask", "distributed", "zarr", "bioio",
)
# Bytes read at a time while hashing.
_HASH_BLOCK = 8 * 1024 * 1024


def package_versions(names: tuple[str, ...] = RECORDED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None when not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def input_checksum(identity: dict[str, Any]) -> dict[str, Any]:
    """Checksum of an input's files, as listed by :func:`pyama_dask.io.inputs.microscopy.input_identity`.

    A single file's ``sha256`` is the file's own (``sha256sum FILE`` prints
    it). For several files (an OME-Zarr directory, a MetaMorph series) it is
    the SHA-256 of their ``sha256sum``-style manifest (``<hash>  <path>``
    lines, paths relative to the input, sorted).

    Returns
    -------
    dict
        ``sha256``, ``files`` (count), ``bytes`` (total size) and
        ``identity_sha256`` (:func:`identity_digest`, to tell whether the
        files changed since).
    """
    files = [Path(name) for name, _, _ in identity["files"]]
    if len(files) == 1:
        digest = file_sha256(files[0])
    else:
        root = Path(identity["input"]).resolve()
        base = root if root.is_dir() else root.parent
        manifest = "".join(f"{file_sha256(f)}  {f.relative_to(base)}\n" for f in files)
        digest = hashlib.sha256(manifest.encode()).hexdigest()
    return {
        "sha256": digest,
        "files": len(files),
        "bytes": sum(size for _, size, _ in identity["files"]),
        "identity_sha256": identity_digest(identity),
    }


def identity_digest(identity: dict[str, Any]) -> str:
    """Short hash of the input's file paths, sizes and modification times."""
    stats = json.dumps([list(entry) for entry in identity["files"]])
    return hashlib.sha256(stats.encode()).hexdigest()[:20]


class InputChecksum:
    """The input's checksum, computed in a background thread while the run goes on.

    The thread is a daemon: an interrupted run exits without waiting for it.

    Parameters
    ----------
    identity
        The input's identity (``input_identity``).
    recorded
        ``provenance["input"]`` of the previous run's results file, if any:
        reused when it describes the same files.
    """

    def __init__(self, identity: dict[str, Any], recorded: dict[str, Any] | None = None):
        self._record: dict[str, Any] | None = None
        self._error: OSError | None = None
        self._thread: threading.Thread | None = None
        if recorded and recorded.get("sha256") and recorded.get("identity_sha256") == identity_digest(identity):
            self._record = recorded
            return
        self._thread = threading.Thread(target=self._compute, args=(identity,), name="pyama-checksum", daemon=True)
        self._thread.start()

    def _compute(self, identity: dict[str, Any]) -> None:
        _lowest_priority()
        try:
            self._record = input_checksum(identity)
        except OSError as exc:
            self._error = exc

    def result(self) -> dict[str, Any]:
        """The checksum record; an ``error`` entry instead when the input could not be read."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            logger.warning("cannot checksum the input: %s", self._error)
            return {"sha256": None, "error": str(self._error)}
        return self._record


def _lowest_priority() -> None:
    """Give the calling thread the lowest CPU priority (Linux: threads have their own nice value).

    The checksum then takes the CPU only when the workers on this machine
    leave it idle, instead of slowing them down; what is left of it when the
    run ends runs at full speed while the results are written.
    """
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError as exc:  # not permitted, e.g. by a seccomp policy
            logger.debug("checksum thread keeps its priority: %s", exc)


def provenance_record(checksum: dict[str, Any], input_path: Path | str, **extra: Any) -> dict[str, Any]:
    """The ``provenance`` entry of a results file.

    Parameters
    ----------
    checksum
        The input's checksum (:meth:`InputChecksum.result`).
    input_path
        The input as the user gave it; recorded with every symbolic link
        resolved (``input: path``), the file the bytes were read from.
    **extra
        Further entries, e.g. the performance report's file name.
    """
    return {
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "input": {**checksum, "path": str(Path(input_path).resolve())},
        **extra,
    }
