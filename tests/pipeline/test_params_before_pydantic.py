"""Params behaves exactly as before its move to pydantic: same dicts, same types, same messages.

``tests/fixtures/params_before_pydantic.json`` was made at commit 7dd0359,
with the dataclass implementation of ``Params``, by running for each case of
its ``valid`` list ``Params.from_mapping(case["params"])`` and recording
``to_dict()``, ``for_step(step)`` for every step of ``STEPS`` and
``pyama_segmentation``; for each case of its ``invalid`` list, ``str()`` of
the ``ParameterError`` that ``Params.from_mapping`` raised. It records the old
behaviour: never regenerate it with the current code.

``tests/fixtures/store_before_step_table/fingerprints.json`` holds the
fingerprints the old code computed for the store next to it.

Parameters added since (``ADDED_SINCE``) are switches: at their default they
are no argument of any step, so ``for_step`` and the fingerprints are those
recorded; ``to_dict()`` records them too, at that default, and the list of
valid names in messages names them.

Defaults a profile changed since (``PROFILE_CHANGES_SINCE``): its cases
record the new value unless they give one, its laptrack tracking takes the
switch as an argument, and a store it made before recomputes tracking and
what follows it (their fingerprints change), nothing before.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.pipeline.context import Channels
from pyama_dask.pipeline.params import STEPS_WITH_PARAMETERS as STEPS, ParameterError, Params
from pyama_dask.pipeline.plan import plan_fov

FIXTURES = Path(__file__).parents[1] / "fixtures"
BEFORE = json.loads((FIXTURES / "params_before_pydantic.json").read_text(encoding="utf-8"))
STORE_BEFORE = FIXTURES / "store_before_step_table"
#: Parameters added after the record, with their default.
ADDED_SINCE = {"smoothing_sigma": 0.0, "max_objects_per_frame": 2000}
#: Defaults a profile changed after the record (the robust profile tracks divisions, issue 18).
PROFILE_CHANGES_SINCE = {"robust": {"track_divisions": True}}
#: The steps a changed track default recomputes.
AFTER_TRACKING = ("track", "extract")
#: Steps added to the table after the record (the tracks graph, issue 18): planned anew for a store made before.
STEPS_ADDED_SINCE = ("graph",)


def _changed_since(given: dict) -> dict:
    """The profile defaults changed since the record that a case's given parameters leave in force."""
    changes = PROFILE_CHANGES_SINCE.get(given.get("profile", "pyama"), {})
    return {name: value for name, value in changes.items() if name not in given}


def _recorded_dict(recorded: dict, given: dict | None = None) -> dict:
    """A recorded ``to_dict()`` with the parameters added since at their default, in ``Params.names()`` order.

    ``given``: the case's parameters, whose profile's changed defaults apply.
    """
    values = {**recorded, **ADDED_SINCE, **_changed_since(given or {})}
    assert set(values) == set(Params.names())
    return {name: values[name] for name in Params.names()}


def _recorded_track_arguments(recorded: dict, given: dict) -> dict:
    """A recorded ``for_step("track")`` with the changed laptrack switches of the case's profile."""
    if Params.from_mapping(given).tracker != "laptrack":
        return recorded
    return {**recorded, **_changed_since(given)}


def _recorded_message(message: str) -> str:
    """A recorded message with the parameters added since in its list of valid names."""
    head, listed = message.split("Valid parameters: ")
    assert set(listed.split(", ")) | set(ADDED_SINCE) == set(Params.names())
    return f"{head}Valid parameters: {', '.join(Params.names())}"


def _typed(value):
    """``value`` with the type of every number spelled out (3 and 3.0 differ in a fingerprint)."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    return (type(value).__name__, value)


@pytest.mark.parametrize("case", BEFORE["valid"], ids=[json.dumps(case["params"]) for case in BEFORE["valid"]])
def test_dicts_are_those_of_the_old_implementation(case):
    params = Params.from_mapping(case["params"])
    assert _typed(params.to_dict()) == _typed(_recorded_dict(case["to_dict"], case["params"]))
    assert list(params.to_dict()) == list(_recorded_dict(case["to_dict"]))  # the order the results file records
    recorded_steps = {**case["for_step"], "track": _recorded_track_arguments(case["for_step"]["track"], case["params"])}
    assert _typed({step: params.for_step(step) for step in STEPS}) == _typed(recorded_steps)
    assert params.pyama_segmentation is case["pyama_segmentation"]


@pytest.mark.parametrize("case", BEFORE["invalid"], ids=[repr(case["params"])[:60] for case in BEFORE["invalid"]])
def test_messages_are_those_of_the_old_implementation(case):
    with pytest.raises(ParameterError) as error:
        Params.from_mapping(case["params"])
    recorded = case["error"]
    assert str(error.value) == (_recorded_message(recorded) if "Valid parameters: " in recorded else recorded)


@pytest.mark.parametrize("name", ["default", "robust", "switches"])
def test_fingerprints_of_a_store_made_before_are_kept(name, tmp_path):
    recorded = json.loads((STORE_BEFORE / "fingerprints.json").read_text(encoding="utf-8"))
    meta = read_metadata(STORE_BEFORE / "input" / "tiny.ome.tiff")
    plan = recorded["plans"][name]
    params = Params.from_mapping(plan["params"])
    tasks = plan_fov(meta, tmp_path, 0, Channels(pc=0, fl=[1]), params, recorded["identity"]).tasks
    fingerprints = {f"{task.step}-ch{task.channel}": task.fingerprint for task in tasks}
    assert set(fingerprints) - set(plan["fingerprints"]) == {f"{step}-ch0" for step in STEPS_ADDED_SINCE}
    fingerprints = {key: value for key, value in fingerprints.items() if key in plan["fingerprints"]}
    if not _changed_since(plan["params"]):
        assert fingerprints == plan["fingerprints"]
        return
    recomputed = {key for key in fingerprints if key.split("-")[0] in AFTER_TRACKING}
    assert {key: fingerprints[key] for key in set(fingerprints) - recomputed} == {
        key: plan["fingerprints"][key] for key in set(fingerprints) - recomputed}
    assert all(fingerprints[key] != plan["fingerprints"][key] for key in recomputed) and recomputed


# The recorded case of each tracker under each profile, the tracker chosen by
# the profile or given.
TRACKERS_BY_PROFILE = {
    ("pyama", "iou"): {},
    ("pyama", "laptrack"): {"tracker": "laptrack"},
    ("robust", "laptrack"): {"profile": "robust"},
    ("robust", "iou"): {"profile": "robust", "tracker": "iou"},
}


@pytest.mark.parametrize(("profile", "tracker"), list(TRACKERS_BY_PROFILE))
def test_each_tracker_under_each_profile_keeps_its_record_and_arguments(profile, tracker):
    recorded = next(case for case in BEFORE["valid"] if case["params"] == TRACKERS_BY_PROFILE[profile, tracker])
    params = Params(profile=profile, tracker=tracker)
    arguments = _recorded_track_arguments(recorded["for_step"]["track"], recorded["params"])
    assert _typed(params.for_step("track")) == _typed(arguments)
    assert list(params.for_step("track")) == list(arguments)  # the order of the arguments too
    assert _typed(params.to_dict()) == _typed(_recorded_dict(recorded["to_dict"], recorded["params"]))
    assert params.tracking.tracker == tracker
