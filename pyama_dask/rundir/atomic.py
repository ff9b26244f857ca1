"""Atomic file replacement: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

#: Ending of the temporary files written beside their destination (``.<name>.<random>.tmp``).
TEMPORARY_SUFFIX = ".tmp"


def _new_file_mode() -> int:
    """The mode ``open()`` gives a new file under the process's umask (``mkstemp`` gives 0600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


# Read once, at import: os.umask can only be read by setting it.
_NEW_FILE_MODE = _new_file_mode()


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then move it into place.

    The temporary file lives in the same directory (same filesystem) and is
    flushed to disk before the rename, so a crash at any moment leaves either
    the previous content or the new one (and at worst a stale temporary file,
    see :func:`remove_stale_temporaries`). The file gets the permissions of a
    file created with ``open()``, so that others may read results as usual.

    Raises
    ------
    OSError
        With the destination path in the message when it cannot be written
        (permissions, disk full).
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
        os.fchmod(fd, _NEW_FILE_MODE)
        os.close(fd)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror}") from exc
    try:
        write(Path(tmp))
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` through :func:`replace_atomically`."""
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files :func:`replace_atomically` left in ``folder`` when a process died mid-write.

    Only call it while no other process writes into ``folder`` (e.g. under
    the run lock).

    Returns
    -------
    list of Path
        The files removed.
    """
    stale = sorted(Path(folder).glob(f".*{TEMPORARY_SUFFIX}"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
