"""``processing_results.yaml``: PyAMA-core's record of a run, merged across runs.

Schema (PyAMA-core's, plus ``input_file``)::

    output_dir: .
    input_file: /path/input.nd2
    channels: {pc: 0, fl: [1, 2]}
    results_paths:
      '0': {pc: [0, pyama.zarr/fov_000/pc_ch_0], fl: [[1, pyama.zarr/fov_000/fl_ch_1]],
            seg: [0, path], seg_labeled: [0, path], fl_corrected: [[1, path]],
            traces_csv: [[1, fov_000/<name>_fov_000_traces_ch_1.csv]]}
    params: {...}
    time_units: min

FOV keys are strings, as PyAMA-core writes and looks them up. Paths are
relative to the folder of the results file, so the folder can be moved or
copied and read from any working directory. Files written by earlier versions
(integer FOV keys, paths absolute or relative to where the run started, under
the recorded ``output_dir``) are read too: :func:`recorded_outputs` finds
their paths in the folder where the file is now, and the next run rewrites
them portably.

A second run over other FOVs adds its FOVs to the file; nothing of the first is
lost. The file is replaced atomically, so it is never seen truncated.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath
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
        if _fov_number(fov) is None or not _is_outputs(outputs):
            raise ResultsFileError(
                f"{path}: 'results_paths' entry {fov!r} is not a FOV number with its [channel, path] outputs; "
                f"{advice}"
            )


def _fov_number(key: Any) -> int | None:
    """The FOV a ``results_paths`` key names: a string of digits, or an integer as older versions wrote."""
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return key
    return int(key) if isinstance(key, str) and key.isdigit() else None


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
    existing file's; every other key is replaced. Its paths, absolute or
    relative to the working directory (under ``document["output_dir"]``), are
    written relative to the folder of ``path``, FOV keys as strings, and
    ``output_dir`` as ``.``.

    Raises
    ------
    ResultsFileError
        If the existing file is malformed or belongs to another input file.
    """
    if "input_file" in document:
        check_results_yaml(path, Path(document["input_file"]))
    else:
        _check_layout(path, read_results_yaml(path))
    folder = path.parent
    merged = recorded_outputs(folder, read_results_yaml(path))
    merged.update(recorded_outputs(folder, document))
    portable = {str(fov): _map_locations(outputs, lambda location: _portable(folder, location))
                for fov, outputs in sorted(merged.items())}
    document = {**document, "output_dir": ".", "results_paths": portable}
    write_text_atomic(path, yaml.safe_dump(document, sort_keys=False))


def recorded_outputs(output_dir: Path, document: dict[str, Any] | None = None) -> dict[int, dict[str, Any]]:
    """Each FOV's outputs in a results document, with every path where it is now.

    Parameters
    ----------
    output_dir
        The folder holding the results file (as given: relative paths stay
        relative to the working directory).
    document
        The results document; read from ``output_dir`` when None.

    Returns
    -------
    dict
        FOV index -> outputs (``[channel, path]`` pairs or lists of them, as
        in the file), paths under ``output_dir``. A path outside the folder
        the run wrote into is kept as recorded.
    """
    if document is None:
        document = read_results_yaml(Path(output_dir) / RESULTS_FILE)
    recorded_dir = document.get("output_dir")
    return {_fov_number(fov): _map_locations(outputs, lambda loc: _located(Path(output_dir), recorded_dir, loc))
            for fov, outputs in (document.get("results_paths") or {}).items()}


def _located(output_dir: Path, recorded_dir: str | None, location: str) -> str:
    """Where a recorded path is now: re-rooted from the recorded ``output_dir`` onto ``output_dir``.

    A run records paths under its output folder (relative to it since portable
    folders; before, absolute or relative to where the run started, under the
    ``output_dir`` it recorded as well).
    """
    recorded = PurePath(location)
    if recorded_dir is not None:
        try:
            return str(output_dir / recorded.relative_to(recorded_dir))
        except ValueError:
            pass  # outside the recorded folder
    return location if recorded.is_absolute() else str(output_dir / recorded)


def _portable(folder: Path, location: str) -> str:
    """``location`` relative to ``folder`` (POSIX separators) when it lies inside it, else absolute."""
    relative = os.path.relpath(os.path.abspath(location), os.path.abspath(folder))
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return os.path.abspath(location)
    return PurePath(relative).as_posix()


def _map_locations(outputs: dict[str, Any] | None, change: Any) -> dict[str, Any] | None:
    """``outputs`` with ``change`` applied to the path of every ``[channel, path]`` pair."""
    if outputs is None:
        return None

    def entry(value: Any) -> Any:
        if not value:  # None, or no pair
            return value
        if isinstance(value[0], list):
            return [entry(pair) for pair in value]
        return [value[0], change(value[1])]

    return {kind: entry(value) for kind, value in outputs.items()}
