"""The run configuration file (YAML): algorithm parameters and cluster settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CONFIG_KEYS = ("params", "cluster")


def load_run_config(path: Path) -> dict[str, Any]:
    """Read a run configuration.

    The file is a YAML mapping with the optional keys ``params`` (algorithm
    parameters by name, validated by :class:`pyama_dask.pipeline.params.Params`) and
    ``cluster`` (cluster settings).

    Raises
    ------
    ValueError
        Naming the file when it is missing, not YAML, not a mapping, or has an
        unknown key.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"config file {path} is a directory") from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: undecodable bytes, integers of > 4300 digits
        raise ValueError(f"config file {path} is not valid YAML ({_problem(exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping with keys {', '.join(CONFIG_KEYS)}")
    unknown = sorted(set(map(str, data)) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"config file {path} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(CONFIG_KEYS)}")
    for key in CONFIG_KEYS:
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise ValueError(f"config file {path}: '{key}' must be a mapping, got {type(data[key]).__name__}")
    return data


def _problem(error: Exception) -> str:
    """What is wrong with a YAML document, and where, on one line."""
    mark, problem = getattr(error, "problem_mark", None), getattr(error, "problem", None)
    if problem is None:
        return " ".join(str(error).split())
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem
