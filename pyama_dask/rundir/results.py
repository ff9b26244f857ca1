"""``processing_results.yaml``: PyAMA-core's record of a run, merged across runs.

Schema (PyAMA-core's, plus ``input_file``)::

    output_dir: /path/out
    input_file: /path/input.nd2
    channels: {pc: 0, fl: [1, 2]}
    results_paths:
      0: {pc: [0, path], fl: [[1, path]], seg: [0, path], seg_labeled: [0, path],
          fl_corrected: [[1, path]], traces_csv: [[1, path]]}
    params: {...}
    time_units: min

A second run over other FOVs adds its FOVs to the file; nothing of the first is
lost. The file is replaced atomically, so it is never seen truncated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pyama_dask.rundir.atomic import write_text_atomic

RESULTS_FILE = "processing_results.yaml"


class ResultsFileError(ValueError):
    """The results file exists but cannot be used (malformed, or from another input)."""


def read_results_yaml(path: Path) -> dict[str, Any]:
    """Read a results file; an absent file gives an empty dict.

    Raises
    ------
    ResultsFileError
        If the file is not a YAML mapping.
    """
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ResultsFileError(
            f"{path} is not valid YAML ({exc.__class__.__name__}); move it away or choose another output directory"
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ResultsFileError(f"{path} does not hold a mapping; move it away or choose another output directory")
    return data


def check_results_yaml(path: Path, input_file: Path) -> None:
    """Refuse an output directory whose results file is malformed or belongs to another input file.

    Raises
    ------
    ResultsFileError
        With advice (another output directory, or move the file away).
    """
    document = read_results_yaml(path)
    _check_layout(path, document)
    recorded = document.get("input_file")
    if recorded is not None and Path(recorded).resolve() != Path(input_file).resolve():
        raise ResultsFileError(
            f"{path} records results of {recorded}, not of {input_file}; "
            "choose another output directory (or remove the old results first)"
        )


def _check_layout(path: Path, document: dict[str, Any]) -> None:
    """Refuse a results file whose entries a run could not merge into (e.g. edited by hand)."""
    advice = "move it away or choose another output directory"
    input_file = document.get("input_file")
    if input_file is not None and not isinstance(input_file, str):
        raise ResultsFileError(f"{path}: 'input_file' must be a path, got {input_file!r}; {advice}")
    results_paths = document.get("results_paths") or {}
    if not isinstance(results_paths, dict):
        raise ResultsFileError(f"{path}: 'results_paths' must map FOV numbers to outputs; {advice}")
    for fov, outputs in results_paths.items():
        if isinstance(fov, bool) or not isinstance(fov, int) or not _is_outputs(outputs):
            raise ResultsFileError(
                f"{path}: 'results_paths' entry {fov!r} is not a FOV number with its [channel, path] outputs; "
                f"{advice}"
            )


def _is_outputs(outputs: Any) -> bool:
    """Whether ``outputs`` maps output kinds to a [channel, path] pair, a list of them, or null."""

    def pair(value: Any) -> bool:
        return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int)
                and not isinstance(value[0], bool) and isinstance(value[1], str))

    if outputs is None:
        return True
    if not isinstance(outputs, dict):
        return False
    return all(value is None or pair(value) or (isinstance(value, list) and all(map(pair, value)))
               for value in outputs.values())


def write_results_yaml(path: Path, document: dict[str, Any]) -> None:
    """Write a results document, keeping the FOVs recorded by earlier runs.

    ``document["results_paths"]`` (FOV index -> outputs) is merged into the
    existing file's; every other key is replaced.

    Raises
    ------
    ResultsFileError
        If the existing file is malformed or belongs to another input file.
    """
    if "input_file" in document:
        check_results_yaml(path, Path(document["input_file"]))
    previous = read_results_yaml(path).get("results_paths") or {}
    merged = {int(fov): paths for fov, paths in previous.items()}
    merged.update({int(fov): paths for fov, paths in document.get("results_paths", {}).items()})
    document = {**document, "results_paths": dict(sorted(merged.items()))}
    write_text_atomic(path, yaml.safe_dump(document, sort_keys=False))
