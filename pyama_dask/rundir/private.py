"""Files that reveal or grant access to a run, readable and writable by their owner only.

The run lock names the host and process of a run, the run log its
scheduler's address, and a batch-queue run's TLS key lets its holder into
the run's cluster: on a shared filesystem, other users should read none of
them.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Mode of a private file: read and write for its owner, nothing for anyone else.
PRIVATE_MODE = 0o600


def open_private(path: Path | str, flags: int) -> int:
    """Open ``path`` with the ``os.open`` `flags`, creating it readable by its owner only; return the descriptor.

    A file that exists already, from an earlier version or another program,
    loses its group and other permissions when this user owns it (another
    user's file cannot be changed and is left as it is).
    """
    fd = os.open(path, flags | os.O_CREAT, PRIVATE_MODE)
    try:
        status = os.fstat(fd)
        if status.st_uid == os.getuid() and status.st_mode & 0o077:
            os.fchmod(fd, PRIVATE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd
