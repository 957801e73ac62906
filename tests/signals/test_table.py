"""One signal table for every command (no root)."""

from __future__ import annotations

import _signal

import pytest

from fire.errors import UsageError
from fire.signals import forward, table


@pytest.mark.parametrize(("text", "number"), [
    ("TERM", 15), ("SIGTERM", 15), ("term", 15), ("sigterm", 15), ("15", 15), (" 9 ", 9),
    ("KILL", 9), ("HUP", 1), ("INT", 2), ("QUIT", 3), ("USR1", 10), ("USR2", 12),
    ("SEGV", 11), ("CHLD", 17), ("CLD", 17), ("WINCH", 28), ("IOT", 6), ("POLL", 29),
    ("RTMIN", _signal.SIGRTMIN), ("SIGRTMIN", _signal.SIGRTMIN),
    ("RTMIN+3", _signal.SIGRTMIN + 3), ("SIGRTMIN+3", _signal.SIGRTMIN + 3),
    ("RTMAX", _signal.SIGRTMAX), ("SIGRTMAX-1", _signal.SIGRTMAX - 1),
    ("rtmax-2", _signal.SIGRTMAX - 2), ("64", 64),
])
def test_names_and_numbers(text: str, number: int) -> None:
    assert table.parse(text) == number


@pytest.mark.parametrize("text", ["", "0", "65", "-9", "FOO", "SIG", "RTMIN+", "RTMIN+100",
                                  "RTMAX+1", "RTMIN-1", "RTMIN+x", "TERM15", "1.5"])
def test_what_is_not_a_signal(text: str) -> None:
    with pytest.raises(UsageError):
        table.parse(text)


def test_every_number_has_a_name_that_parses_back() -> None:
    for num in range(1, _signal.NSIG):
        name = table.name(num)
        if 32 <= num < _signal.SIGRTMIN:  # the C library's own: no name, as in kill -l
            assert name == str(num)
            continue
        assert name.startswith("SIG"), name
        assert table.parse(name) == num
    assert table.name(15) == "SIGTERM"
    assert table.name(_signal.SIGRTMIN + 3) == "SIGRTMIN+3"


def test_numbers_match_the_kernel() -> None:
    for name, num in table.NUMBERS.items():
        assert getattr(_signal, "SIG" + name) == num, name


def test_forwarding_decisions() -> None:
    assert forward.action(_signal.SIGCHLD) == forward.REAP
    assert forward.action(_signal.SIGWINCH) == forward.RESIZE
    for sig in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT,
                _signal.SIGUSR1, _signal.SIGUSR2, _signal.SIGTSTP, _signal.SIGCONT,
                _signal.SIGRTMIN + 3, _signal.SIGURG):
        assert forward.action(sig) == forward.FORWARD, table.name(sig)
    caught = forward.catchable()
    assert _signal.SIGKILL not in caught
    assert _signal.SIGSTOP not in caught
    assert len(caught) == _signal.NSIG - 3
