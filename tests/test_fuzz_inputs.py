"""Fuzzing what users type: parameters, run config files and command lines never end in a traceback.

A bad value must raise ``ValueError`` (or ``OSError``) with a message, which
the command prints as one error line with exit code 2; argparse's own usage
errors exit with code 2 too. Any other exception escaping is a bug. The
command-line fuzzing runs the real parser and every check of a request, with
the work itself (cluster, workflow, demo data) replaced, so no example
computes anything.
"""

from __future__ import annotations

import argparse
import functools
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyama_dask.cli.commands as commands
from pyama_dask.cli import acquisition, build_parser, main
from pyama_dask.workflow import live
from pyama_dask.cli.clusters import request_from_args
from pyama_dask.rundir.config import load_run_config
from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.pipeline.params import ParameterError, Params

NAMES = Params.names()
YAML_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from([10**400, -(10**400), 2**64, 1e308, -0.0, 0.5, 3, 7, 256, "3", "0.5", "odd", ""]),
)
YAML_VALUES = st.recursive(YAML_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
KEYS = st.one_of(st.sampled_from(NAMES), st.text(max_size=12), st.integers(), st.none(), st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, YAML_VALUES, max_size=5) | st.dictionaries(st.sampled_from(NAMES), YAML_SCALARS))
def test_parameters_are_accepted_or_refused_with_a_parameter_error(values):
    try:
        params = Params.from_mapping(values)
    except ParameterError as error:
        assert str(error).startswith(("unknown parameter", "parameter ")), str(error)
    else:
        assert set(params.to_dict()) >= set(NAMES)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.one_of(
    st.text(max_size=80),
    st.binary(max_size=40).map(lambda raw: raw.decode("latin-1")),
    st.dictionaries(st.sampled_from(["params", "cluster", "parameters", "kind"]), YAML_VALUES, max_size=3)
    .map(lambda data: yaml.safe_dump(data)),
    st.dictionaries(KEYS, YAML_VALUES, max_size=4).map(lambda params: yaml.safe_dump({"params": params})),
))
def test_a_run_config_is_read_or_refused_naming_the_file(document, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(document, encoding="utf-8", errors="surrogateescape")
    try:
        config = load_run_config(path)
        Params.from_mapping(config.get("params") or {})
        request_from_args(build_parser().parse_args(["run", "x", "--out", "y"]), config)
    except ParameterError:
        pass  # names the parameter (tested above)
    except ValueError as error:
        assert str(path) in str(error) or "cluster kind" in str(error), str(error)
        assert "\n" not in str(error)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, tiny_dataset):
    """Files and folders the fuzzed command lines may name."""
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "empty_dir").mkdir()
    (folder / "good.yaml").write_text("params:\n  min_trace_length: 3\n")
    (folder / "bad.yaml").write_text("params: [1\n")
    (folder / "cluster.yaml").write_text("cluster:\n  kind: slurm\n  cores: 2\n  memory: 4GB\n")
    (folder / "notes.nd2").write_text("not a microscopy file")
    return folder


def _command_lines(sandbox: Path, tiny: Path) -> st.SearchStrategy[list[str]]:
    """Command lines: mostly a subcommand with its positionals and options (values right or wrong), else any tokens."""
    paths = st.sampled_from([str(tiny), str(tiny), str(sandbox / "empty_dir"), str(sandbox / "missing.nd2"),
                             str(sandbox / "notes.nd2"), str(sandbox / "good.yaml"), str(sandbox / "bad.yaml"),
                             str(sandbox / "cluster.yaml"), str(sandbox / "out"), str(sandbox / "empty_dir/x")])
    words = st.sampled_from(["0", "1", "2", "3", "-1", "0-2", "2-1", "1-9", "a-b", "", "-", "TYX", "XYZQ",
                             "slurm", "local", "parquet", "robust", "4GB", "lots", "01:00:00", "1:2:3:4",
                             str(10**30), "1e3", "nan", "ümlaut"])
    numbers = st.integers(-3, 400).map(str) | st.sampled_from(["0", "-1", str(10**30), "two", "1.5"])
    any_value = paths | words | numbers
    subcommands = {name: sub for action in build_parser()._actions
                   if isinstance(action, argparse._SubParsersAction) for name, sub in action.choices.items()}

    def option(action: argparse.Action) -> st.SearchStrategy[list[str]]:
        flag = st.sampled_from(action.option_strings)
        if action.nargs == 0:
            return flag.map(lambda name: [name])
        value = (st.sampled_from(list(action.choices)) | any_value) if action.choices else \
            (numbers | any_value) if action.type is int else (paths | any_value)
        count = st.integers(0, 3) if action.nargs in ("*", "+") else st.just(1)
        return st.tuples(flag, count.flatmap(lambda n: st.lists(value, min_size=n, max_size=n))).map(
            lambda pair: [pair[0], *pair[1]])

    def command(name: str) -> st.SearchStrategy[list[str]]:
        actions = [a for a in subcommands[name]._actions if not isinstance(a, argparse._HelpAction)]
        positionals = [paths for a in actions if not a.option_strings]
        required = [option(a) for a in actions if a.option_strings and a.required]
        optionals = [a for a in actions if a.option_strings]
        options = st.lists(st.sampled_from(optionals).flatmap(option), max_size=6) if optionals else st.just([])
        return st.tuples(st.tuples(*positionals, *required), options).map(
            lambda parts: [name, *(token for chunk in (*parts[0], *parts[1])
                                   for token in ([chunk] if isinstance(chunk, str) else chunk))])

    grammar = st.sampled_from(sorted(subcommands)).flatmap(command)
    tokens = st.lists(st.sampled_from(sorted(subcommands)) | any_value | st.sampled_from(["--fl", "--out", "-v"]),
                      min_size=1, max_size=8)
    return grammar | grammar | grammar | tokens


_read_metadata_once = functools.cache(read_metadata)  # a valid file is named by many examples


@contextmanager
def _no_work(tiny: Path):
    """The commands with the work replaced: every check of a request runs, nothing is computed or written.

    The cluster request is made and checked; no cluster starts (``run_complete_workflow`` would start it).
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(commands, "read_metadata", _read_metadata_once)
        patch.setattr(commands, "run_complete_workflow", lambda *args, **kwargs: True)
        patch.setattr(commands, "demo_dataset", lambda folder, spec: tiny)
        # A simulated acquisition writes for minutes, a follow run waits for frames: both checked, not run.
        patch.setattr(acquisition, "simulate_acquisition", lambda out, *args, **kwargs: out)
        patch.setattr(live, "wait_for_first_frame", lambda source, limits: None)
        patch.setattr(live, "follow_workflow", lambda *args, **kwargs: True)
        yield


@pytest.fixture(scope="module")
def fuzz_argv(sandbox, tiny_dataset):
    return _command_lines(sandbox, tiny_dataset.image_path)


def test_command_lines_end_in_a_result_or_one_clear_error(sandbox, tiny_dataset, fuzz_argv, capsys, monkeypatch):
    monkeypatch.chdir(sandbox)
    tiny = tiny_dataset.image_path

    @settings(max_examples=250, deadline=None)
    @given(argv=fuzz_argv)
    def check(argv):
        with _no_work(tiny):
            try:
                code = main(argv)
            except SystemExit as exit:  # argparse: --help (0) or a usage error (2)
                code = exit.code
        err = capsys.readouterr().err
        assert code in (0, 1, 2), (argv, code)
        assert "Traceback" not in err, (argv, err)
        if code == 2:
            assert "error:" in err, (argv, err)

    check()
    assert not (sandbox / "out").exists() and not (sandbox / "demo-output").exists(), "nothing is written"
