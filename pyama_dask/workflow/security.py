"""Who can get into a run: TLS credentials of a batch-queue run, and checks of the addresses it listens on.

A Dask scheduler runs whatever code its clients send, in its workers, as the
user who started them. The scheduler of a batch-queue run listens where every
node of the cluster, and so every other user of it, can reach it. With
`RunCredentials` it speaks TLS and accepts only clients and workers that
hold the run's certificate (mutual TLS): a self-signed certificate and key
made for the run (distributed's ``Security.temporary``), which also serve as
the only certificate authority the run trusts.

The worker jobs read them from files in a folder on a filesystem the nodes
share, made for the run with mode 0700 (the files themselves 0600) and
removed when the run ends. A run killed before it can remove them leaves a
folder only its user can read, holding credentials that the next run does
not trust.

A running scheduler given by address is checked (`check_scheduler_address`):
a ``tls://`` one needs a client certificate in dask's config, a ``tcp://``
one off this machine is named in a warning. A dashboard is served on
`DASHBOARD_ADDRESS`, this machine only, unless asked otherwise, with a
warning (`warn_if_open_dashboard`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import tempfile
import weakref
from pathlib import Path
from types import TracebackType

from distributed.comm import parse_address, parse_host_port
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
#: Folder written into a dry-run job script, where the run's credentials folder would be.
PLACEHOLDER_FOLDER = "<credentials-folder>"
#: Where the scheduler of a cluster started here serves its dashboard unless told otherwise:
#: this machine only, reached from elsewhere through an SSH tunnel.
DASHBOARD_ADDRESS = "127.0.0.1:8787"


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


def placeholder_security() -> Security:
    """Worker credentials naming the files of a placeholder folder, as a dry run's job script shows them."""
    cert, key = f"{PLACEHOLDER_FOLDER}/{CERT_FILE}", f"{PLACEHOLDER_FOLDER}/{KEY_FILE}"
    return Security(require_encryption=True, tls_ca_file=cert, tls_worker_cert=cert, tls_worker_key=key)


def check_scheduler_address(address: str) -> None:
    """Check how a running scheduler will be reached.

    Raises
    ------
    ValueError
        For a ``tls://`` address when dask's config holds no client
        certificate to present, naming the settings.
    """
    if address.startswith("tls://"):
        tls = Security().get_tls_config_for_role("client")
        if not (tls["ca_file"] and tls["cert"]):
            raise ValueError(
                f"scheduler {address} speaks TLS, but dask's config has no client certificate for it: set "
                "distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and distributed.comm.tls.client.key "
                "(in ~/.config/dask/*.yaml or as DASK_DISTRIBUTED__COMM__TLS__... environment variables; "
                "see deploy/README.md)"
            )
    try:
        scheme, location = parse_address(address)
        host, _ = parse_host_port(location)
    except ValueError:
        return  # connecting will say what is wrong with it
    if scheme == "tcp" and not _is_loopback(host):
        logger.warning(
            "the scheduler at %s takes plain TCP connections without credentials: anyone who can reach it "
            "can run any code in its workers, as the user who started them and with their files. Start the "
            "scheduler and workers with TLS certificates and give a tls:// address (see deploy/README.md)",
            address,
        )


def warn_if_open_dashboard(address: str | int) -> None:
    """Warn when a dashboard is served where other machines can reach it."""
    host = str(address).rpartition(":")[0]
    if not _is_loopback(host):
        logger.warning(
            "the dashboard (dashboard_address %r) is served on a network interface: anyone who can reach it "
            "sees the run's tasks, workers and logs. The default, %s, keeps it on this machine; reach it "
            "through an SSH tunnel (see deploy/README.md)",
            address,
            DASHBOARD_ADDRESS,
        )


def _is_loopback(host: str) -> bool:
    """Whether `host` names this machine's loopback interface (an empty host means every interface)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
