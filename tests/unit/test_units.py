"""The supervisor's unit lifecycle (fire.lifecycle.units), pair by pair, no root."""

from __future__ import annotations

import itertools

import pytest

from fire.errors import LifecycleError
from fire.lifecycle import units as ul

W, CG, CD, R, SG, RS, SD, F = (ul.WAITING, ul.CREATING, ul.CREATED, ul.RUNNING, ul.STOPPING,
                               ul.RESTARTING, ul.STOPPED, ul.FAILED)

# Written out by hand (not derived from ul.TABLE): what docs/supervisor.md describes.
EXPECTED: dict[tuple[str, str], str] = {
    (W, ul.WAIT): W,
    (W, ul.SET_UP): CG, (RS, ul.SET_UP): CG,
    (CG, ul.MADE): CD,
    (CD, ul.STARTED): R,
    (W, ul.ADOPT): R,
    (R, ul.STOP): SG,
    (CG, ul.RESTART): RS, (CD, ul.RESTART): RS, (R, ul.RESTART): RS, (SG, ul.RESTART): RS,
    (W, ul.END): SD, (CG, ul.END): SD, (CD, ul.END): SD, (R, ul.END): SD, (SG, ul.END): SD,
    (RS, ul.END): SD,
    (W, ul.GIVE_UP): F, (CG, ul.GIVE_UP): F, (CD, ul.GIVE_UP): F, (R, ul.GIVE_UP): F,
    (SG, ul.GIVE_UP): F,
    **{(s, ul.BROKEN): F for s in ul.STATES},
}

PAIRS = list(itertools.product(ul.STATES, ul.EVENTS))


def test_the_state_names_users_see_do_not_change() -> None:
    """The `state` event's values (docs/supervisor.md), the TUI's, `fire list`'s and
    the fire_container_state metric's labels."""
    assert ul.STATES == ("waiting", "creating", "created", "running", "stopping",
                         "restarting", "stopped", "failed")


def test_the_table_is_the_documented_one() -> None:
    assert ul.TABLE == EXPECTED
    assert len(PAIRS) == len(ul.STATES) * len(ul.EVENTS) == 80


@pytest.mark.parametrize(("state", "event"), PAIRS)
def test_every_pair(state: str, event: str) -> None:
    unit = ul.Lifecycle("web", state)
    after = EXPECTED.get((state, event))
    assert unit.allowed(event) == (after is not None)
    if after is not None:
        assert unit.send(event) == after
        assert unit.state == after
    else:
        with pytest.raises(LifecycleError, match=f"cannot {event} a container that is {state}"):
            unit.send(event)
        assert unit.state == state, "an illegal event changes nothing"


def test_stopped_and_failed_are_final_but_for_a_bug() -> None:
    for state in (SD, F):
        assert [e for e in ul.EVENTS if ul.Lifecycle("c", state).allowed(e)] == [ul.BROKEN]


def test_every_state_but_the_first_is_reachable_from_waiting() -> None:
    seen, todo = {W}, [W]
    while todo:
        state = todo.pop()
        for event in ul.EVENTS:
            after = ul.TABLE.get((state, event))
            if after is not None and after not in seen:
                seen.add(after)
                todo.append(after)
    assert seen == set(ul.STATES)


def test_a_run_with_a_restart_then_a_stop_on_request() -> None:
    unit = ul.Lifecycle("web")
    assert unit.state == W
    walk = [ul.WAIT, ul.SET_UP, ul.MADE, ul.STARTED, ul.RESTART, ul.SET_UP, ul.MADE,
            ul.STARTED, ul.STOP, ul.END]
    assert [unit.send(e) for e in walk] == [W, CG, CD, R, RS, CG, CD, R, SG, SD]


def test_the_grid_in_docs_supervisor_md_is_the_table() -> None:
    """docs/supervisor.md shows the table as a grid (state rows, event columns;
    `broken` in a sentence): it must not drift from the code."""
    from pathlib import Path

    doc = Path(__file__).parents[2] / "docs" / "supervisor.md"
    lines = doc.read_text(encoding="utf-8").splitlines()
    top = next(i for i, line in enumerate(lines) if line.lstrip().startswith("| state ↓ event →"))
    events = [c.strip().strip("`") for c in lines[top].split("|")[2:-1]]
    grid: dict[tuple[str, str], str] = {}
    for line in lines[top + 2:]:
        if not line.lstrip().startswith("|"):
            break
        cells = [c.strip() for c in line.split("|")[1:-1]]
        for state in (s.strip().strip("`") for s in cells[0].split(",")):
            for event, after in zip(events, cells[1:], strict=True):
                if after:
                    grid[state, event] = after
    assert sorted(events) == sorted(e for e in ul.EVENTS if e != ul.BROKEN)
    assert grid == {pair: after for pair, after in ul.TABLE.items() if pair[1] != ul.BROKEN}
