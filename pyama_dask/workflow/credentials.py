"""TLS credentials made for one batch-queue run, handed to its worker jobs through a private folder.

The scheduler of a batch-queue run listens where every node of the cluster,
and so every other user of it, can reach it. With these credentials it
speaks TLS and accepts only clients and workers that hold the run's
certificate (mutual TLS): a self-signed certificate and key made for the
run (distributed's ``Security.temporary``), which also serve as the only
certificate authority the run trusts.

The worker jobs read them from files in a folder on a filesystem the nodes
share, made for the run with mode 0700 (the files themselves 0600) and
removed when the run ends. A run killed before it can remove them leaves a
folder only its user can read, holding credentials that the next run does
not trust.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import weakref
from pathlib import Path
from types import TracebackType

from distributed.security import Security

from pyama_dask.rundir.private import open_private

logger = logging.getLogger(__name__)

#: Where the folder of a run's credentials is made when no shared folder is configured.
DEFAULT_SHARED_DIRECTORY = "~"
#: Start of the name of a run's credentials folder.
FOLDER_PREFIX = ".pyama-dask-tls-"
#: Files of a run's credentials: its certificate (also the authority it trusts) and its key.
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
ROLES = ("client", "scheduler", "worker")


class RunCredentials:
    """TLS credentials of one run, as files in a folder only this user can read.

    Parameters
    ----------
    shared_directory
        An existing folder that the worker jobs see under the same path
        (``~`` and ``$VARIABLES`` are expanded); ``None`` is the home
        directory.

    Attributes
    ----------
    folder
        The run's credentials folder.
    security
        A ``distributed.Security`` requiring TLS and naming the files, for the
        scheduler, the client and the workers alike.

    Raises
    ------
    OSError
        Naming `shared_directory` when the folder or its files cannot be made.
    ImportError
        When ``cryptography``, which makes the certificate, is not installed.
    """

    def __init__(self, shared_directory: str | Path | None = None) -> None:
        # Absolute: the job scripts name the files, and jobs may start in another folder.
        parent = Path(os.path.expandvars(os.path.expanduser(str(shared_directory or DEFAULT_SHARED_DIRECTORY))))
        parent = parent.absolute()
        try:
            self.folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=parent))  # mode 0700
        except OSError as exc:
            raise OSError(exc.errno, f"cannot make the run's TLS credentials folder in {parent} "
                                     f"(a shared-temp-directory every node sees): {exc.strerror}") from exc
        self._remove = weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)
        try:
            self.security = self._write(_made_for_the_run())
        except BaseException:
            self.remove()
            raise
        logger.info("TLS credentials of this run in %s", self.folder)

    def _write(self, made: Security) -> Security:
        """Write the certificate and key of `made` into the folder; return a Security naming the files."""
        cert, key = self.folder / CERT_FILE, self.folder / KEY_FILE
        for path, text in ((cert, made.tls_scheduler_cert), (key, made.tls_scheduler_key)):
            try:
                with os.fdopen(open_private(path, os.O_WRONLY | os.O_EXCL), "w", encoding="ascii") as file:
                    file.write(text)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot write the run's TLS credentials {path}: {exc.strerror}") from exc
        files = {f"tls_{role}_{part}": str(path) for role in ROLES for part, path in (("cert", cert), ("key", key))}
        return Security(require_encryption=True, tls_ca_file=str(cert), **files)

    def remove(self) -> None:
        """Remove the folder and its files; a second call does nothing."""
        self._remove()

    def __enter__(self) -> RunCredentials:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        self.remove()


def _made_for_the_run() -> Security:
    """A new self-signed certificate and key, in memory."""
    try:
        return Security.temporary()
    except ImportError as exc:
        raise ImportError("the TLS credentials of a batch-queue run are made with cryptography: "
                          "pip install 'pyama-dask[hpc]'") from exc
