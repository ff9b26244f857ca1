"""What a run wrote: bytes on disk per kind of output."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from pyama_dask.io.store import STORE_NAME

_IMAGE_FOLDER = re.compile(r"(.+)_ch_\d+")


def output_bytes(out_dir: Path) -> dict[str, int]:
    """Bytes of the files under ``out_dir``: per image kind of the store, traces, and the rest.

    A file counts for the innermost ``<kind>_ch_<c>`` folder holding it (label
    images sit inside the phase contrast's ``labels`` group).
    """
    sizes: Counter[str] = Counter()
    for path in Path(out_dir).rglob("*"):
        if not path.is_file():
            continue
        parts = path.relative_to(out_dir).parts
        images = [match[1] for part in parts[:-1] if (match := _IMAGE_FOLDER.fullmatch(part))]
        if parts[0] == STORE_NAME and images:
            kind = images[-1]
        elif path.suffix in (".csv", ".parquet"):
            kind = "traces"
        else:
            kind = "other"
        sizes[kind] += path.stat().st_size
    return dict(sizes)
