"""Restart and health rules (pure)."""

from __future__ import annotations

import pytest

from fire.supervisor import policy
from fire.supervisor.policy import Outcome


def test_backoff_doubles_from_half_a_second_to_thirty() -> None:
    assert [policy.backoff(n) for n in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert policy.backoff(10_000) == 30


@pytest.mark.parametrize(("rule", "outcome", "restart"), [
    ("no", Outcome(code=1), False),
    ("on-failure", Outcome(code=0), False),
    ("on-failure", Outcome(code=1), True),
    ("on-failure", Outcome(code=137, signal=9), True),
    ("on-failure", Outcome(code=None), True),  # unknown (adopted): counts as failure
    ("on-failure", Outcome(failed_stage="create"), True),
    ("on-failure", Outcome(code=0, unhealthy=True), True),
    ("always", Outcome(code=0), True),
    ("always", Outcome(code=0, stopped=True), False),
    ("on-failure", Outcome(code=1, stopped=True), False),
])
def test_should_restart(rule: str, outcome: Outcome, restart: bool) -> None:
    assert policy.should_restart(rule, outcome, restarts=0, max_restarts=None) is restart


def test_max_restarts_counts_restarts_after_the_first_run() -> None:
    failed = Outcome(code=1)
    assert policy.should_restart("always", failed, restarts=2, max_restarts=3)
    assert not policy.should_restart("always", failed, restarts=3, max_restarts=3)
    assert not policy.should_restart("always", failed, restarts=0, max_restarts=0)


def test_a_long_run_resets_the_backoff_streak() -> None:
    assert policy.next_streak(5, Outcome(code=1, uptime=0.2)) == 5
    assert policy.next_streak(5, Outcome(code=1, uptime=policy.RESET_AFTER)) == 0


def test_health_counts_consecutive_failures() -> None:
    status, failures = policy.STARTING, 0
    seen = []
    for ok in (False, False, True, False, False, False):
        status, failures = policy.health_step(failures, ok, retries=3, grace=False)
        seen.append((status, failures))
    assert seen == [("failing", 1), ("failing", 2), ("healthy", 0), ("failing", 1),
                    ("failing", 2), ("unhealthy", 3)]


def test_failures_in_the_start_period_do_not_count() -> None:
    assert policy.health_step(0, False, retries=1, grace=True) == ("starting", 0)
    assert policy.health_step(0, True, retries=1, grace=True) == ("healthy", 0)
    assert policy.health_step(0, False, retries=1, grace=False) == ("unhealthy", 1)
