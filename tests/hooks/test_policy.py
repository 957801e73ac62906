"""The hook rules as pure data (no root, no processes)."""

from __future__ import annotations

import pytest

from fire.errors import HookError
from fire.hooks import policy
from fire.lifecycle import machine as lm
from fire.spec.state import CREATED, CREATING, RUNNING, STOPPED


def test_phases_in_spec_order_and_who_runs_them() -> None:
    assert policy.ORDER == ("prestart", "createRuntime", "createContainer", "startContainer",
                            "poststart", "poststop")
    assert set(policy.PHASES) == set(policy.ORDER)
    assert [p for p in policy.ORDER if policy.runs_in_init(p)] == ["createContainer",
                                                                   "startContainer"]


def test_only_poststop_failures_are_warnings() -> None:
    assert [p for p in policy.ORDER if not policy.is_fatal(p)] == ["poststop"]


@pytest.mark.parametrize(("phase", "status"), [
    ("prestart", "created"), ("createRuntime", "created"), ("createContainer", "created"),
    ("startContainer", "created"), ("poststart", "running"), ("poststop", "stopped")])
def test_state_shown_to_each_phase(phase: str, status: str) -> None:
    base = {"ociVersion": "1.3.0", "id": "c1", "bundle": "/b", "annotations": {"k": "v"}}
    state = policy.state(base, phase, 4242)
    assert state["status"] == status
    assert state["id"] == "c1"
    assert state["bundle"] == "/b"
    assert state["annotations"] == {"k": "v"}
    if status == "stopped":
        assert "pid" not in state
    else:
        assert state["pid"] == 4242


def test_state_without_annotations_has_none() -> None:
    state = policy.state({"ociVersion": "1", "id": "c", "bundle": "/b", "annotations": None},
                         "prestart", 7)
    assert "annotations" not in state


def test_messages() -> None:
    name = policy.hook_name("createRuntime", 2, "/usr/bin/netns")
    assert name == "createRuntime hook #2 (/usr/bin/netns)"
    assert str(policy.timed_out(name, 1.0)) == (
        "createRuntime hook #2 (/usr/bin/netns) ran past its timeout of 1s")
    assert str(policy.timed_out(name, 0.5)).endswith("timeout of 0.5s")
    err = policy.failed(name, 3, "starting\nno such network\n")
    assert isinstance(err, HookError)
    assert str(err) == "createRuntime hook #2 (/usr/bin/netns) failed: exit status 3: no such network"
    assert str(policy.failed(name, -9, "")) == (
        "createRuntime hook #2 (/usr/bin/netns) failed: killed by signal 9")
    assert str(policy.not_started(name, "Permission denied")) == (
        "createRuntime hook #2 (/usr/bin/netns): cannot run it: Permission denied")
    assert policy.output_lines(name, "a\n\nb\n") == [f"{name}: a", f"{name}: b"]


# --------------------------------------------------------------------------- the machine


def test_a_create_failure_before_the_hook_steps_runs_no_poststop() -> None:
    m = lm.Machine("c", CREATING)
    actions = m.send(lm.CREATE_FAILED)
    assert lm.RUN_POSTSTOP not in actions
    assert actions == (lm.KILL_ALL, lm.REMOVE_CGROUP, lm.REMOVE_STATE)


def test_a_create_failure_after_the_hook_steps_began_runs_poststop_after_the_undo() -> None:
    m = lm.Machine("c", CREATING)
    assert m.send(lm.HOOKS_BEGIN) == ()
    assert m.status == CREATING
    actions = m.send(lm.CREATE_FAILED)
    assert actions == (lm.KILL_ALL, lm.REMOVE_CGROUP, lm.RUN_POSTSTOP, lm.REMOVE_STATE)
    assert m.status == STOPPED


@pytest.mark.parametrize(("status", "event"), [
    (CREATED, lm.START_FAILED), (RUNNING, lm.POSTSTART_FAILED), (STOPPED, lm.POSTSTART_FAILED),
    (STOPPED, lm.DELETE), (CREATED, lm.DELETE), (RUNNING, lm.FORCE_DELETE)])
def test_every_fatal_hook_failure_and_delete_destroy_with_poststop(status: str, event: str) -> None:
    actions = lm.Machine("c", status).send(event)
    assert actions[-4:] == lm.DESTROY
    assert actions.index(lm.RUN_POSTSTOP) > actions.index(lm.REMOVE_CGROUP), "step 13 after 12"
    assert actions[-1] == lm.REMOVE_STATE


def test_failure_events_by_phase() -> None:
    assert [lm.failure_event(p) for p in policy.ORDER] == [
        lm.CREATE_FAILED, lm.CREATE_FAILED, lm.CREATE_FAILED, lm.START_FAILED,
        lm.POSTSTART_FAILED, None]


def test_start_then_poststart_failure() -> None:
    m = lm.Machine("c", CREATED)
    assert m.send(lm.START) == (lm.RELEASE,)
    assert m.send(lm.STARTED) == (lm.SET_RUNNING, lm.RUN_POSTSTART)
    assert m.status == RUNNING
    assert lm.RUN_POSTSTOP in m.send(lm.POSTSTART_FAILED)


def test_an_illegal_event_changes_nothing() -> None:
    from fire.errors import LifecycleError

    m = lm.Machine("c", RUNNING)
    with pytest.raises(LifecycleError, match="already running"):
        m.send(lm.START)
    assert m.status == RUNNING
    with pytest.raises(LifecycleError):
        lm.Machine("c", RUNNING).send(lm.HOOKS_BEGIN)
