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


def _recorded_dict(recorded: dict) -> dict:
    """A recorded ``to_dict()`` with the parameters added since at their default, in ``Params.names()`` order."""
    values = {**recorded, **ADDED_SINCE}
    assert set(values) == set(Params.names())
    return {name: values[name] for name in Params.names()}


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
    assert _typed(params.to_dict()) == _typed(_recorded_dict(case["to_dict"]))
    assert list(params.to_dict()) == list(_recorded_dict(case["to_dict"]))  # the order the results file records
    assert _typed({step: params.for_step(step) for step in STEPS}) == _typed(case["for_step"])
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
    assert {f"{task.step}-ch{task.channel}": task.fingerprint for task in tasks} == plan["fingerprints"]


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
    assert _typed(params.for_step("track")) == _typed(recorded["for_step"]["track"])
    assert list(params.for_step("track")) == list(recorded["for_step"]["track"])  # the order of the arguments too
    assert _typed(params.to_dict()) == _typed(_recorded_dict(recorded["to_dict"]))
    assert params.tracking.tracker == tracker
