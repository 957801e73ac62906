"""Restart and health policy: pure rules, no I/O (tested without processes).

Restart (``restart`` in the TOML file):

* ``no`` — never; ``on-failure`` — after a failed run; ``always`` — after any run
  that the supervisor did not end itself (a stop request or shutdown never restarts).
* A run *failed* when a set-up stage failed, the process exited non-zero or from a
  signal, the health check declared it unhealthy, or its exit status is unknown (an
  adopted container: not the supervisor's child).  Unknown counts as failure so
  that a service that may have crashed is brought back.
* ``max_restarts`` bounds the restarts after the first run (unset: unlimited).
* Backoff before a restart: 0.5 s, doubling, at most 30 s.  A run that stayed up
  for ``RESET_AFTER`` seconds resets the doubling (not the restart count): a
  service that crashes once a day is not made to wait 30 s.
"""

from __future__ import annotations

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
RESET_AFTER = 10.0

NO = "no"
ON_FAILURE = "on-failure"
ALWAYS = "always"


class Outcome:
    """How one run of a container ended."""

    __slots__ = ("code", "failed_stage", "signal", "stopped", "unhealthy", "uptime")

    def __init__(self, code: int | None = None, signal: int | None = None,
                 failed_stage: str | None = None, unhealthy: bool = False,
                 stopped: bool = False, uptime: float = 0.0) -> None:
        self.code = code  # exit code, None when unknown (or it never ran)
        self.signal = signal  # the signal that killed it
        self.failed_stage = failed_stage  # a set-up stage that failed
        self.unhealthy = unhealthy  # ended by the health check
        self.stopped = stopped  # ended on request: never restarted
        self.uptime = uptime  # seconds it ran

    @property
    def failed(self) -> bool:
        if self.failed_stage is not None or self.unhealthy or self.signal is not None:
            return True
        return self.code != 0

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"Outcome({fields})"


def should_restart(policy: str, outcome: Outcome, restarts: int, max_restarts: int | None) -> bool:
    """Whether to run the container again; ``restarts`` = restarts done so far."""
    if outcome.stopped or policy == NO:
        return False
    if max_restarts is not None and restarts >= max_restarts:
        return False
    if policy == ALWAYS:
        return True
    return outcome.failed


def backoff(streak: int) -> float:
    """Seconds to wait before restart number ``streak`` (0-based) of a crash streak."""
    return min(BACKOFF_FIRST * (1 << min(streak, 16)), BACKOFF_MAX)


def next_streak(streak: int, outcome: Outcome) -> int:
    """The crash streak after ``outcome`` (0 again after a long enough run)."""
    return 0 if outcome.uptime >= RESET_AFTER else streak


# ------------------------------------------------------------------ health
STARTING = "starting"
HEALTHY = "healthy"
FAILING = "failing"  # failed, but fewer than `retries` times in a row
UNHEALTHY = "unhealthy"


def health_step(failures: int, ok: bool, retries: int, grace: bool) -> tuple[str, int]:
    """(status, consecutive failures) after one check.

    ``grace``: still in the start period, where failures do not count (a slow
    service is not killed while it starts) but a success does.
    """
    if ok:
        return HEALTHY, 0
    if grace:
        return STARTING, failures
    failures += 1
    return (UNHEALTHY if failures >= retries else FAILING), failures
