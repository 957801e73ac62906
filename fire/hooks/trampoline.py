"""The trio runner's way into a hook: a fresh interpreter that *becomes* the hook.

Why not fork and set the hook up in the child, as the sync runner does: the
supervisor has threads (trio starts workers), and after ``fork`` in a threaded
process only async-signal-safe calls are safe until ``execve`` — which rules out
running Python (``preexec_fn``), and so ``setpgid`` and
``prctl(PR_SET_CHILD_SUBREAPER)`` that the kill-the-whole-tree rule needs
(fire.hooks.runner).  So the supervisor starts ``python -I -S`` on this module,
which does exactly what the sync runner's child does (``runner.become_hook``) and
``exec``s the hook in place: same pid, same process group, same subreaper.  Cost: one
interpreter start and these imports (~17 ms here) per hook, off the engine path.

Command line: ``ERR_FD PATH N ARG*N ENV*``; ``execve``'s errno, if it fails, is
written to ERR_FD, which is close-on-exec (EOF there means the hook runs).  The
environment travels on the command line, not in this interpreter's own
environment, because Python adjusts its own (``LC_CTYPE`` coercion) at start-up:
the hook gets ``env`` exactly.
"""

from __future__ import annotations

import os
import sys

from fire import INTERPRETER_FLAGS
from fire.hooks.runner import become_hook, hook_argv, hook_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import HookPlan

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CODE = ("import sys; sys.path.insert(0, {parent!r}); "
        "from fire.hooks.trampoline import main; main()")


def command(hook: HookPlan, err_fd: int) -> list[str]:
    """The trampoline's argv for ``hook``."""
    args = hook_argv(hook)
    return [sys.executable, *INTERPRETER_FLAGS, "-c", CODE.format(parent=PACKAGE_PARENT),
            str(err_fd), hook["path"], str(len(args)), *args, *hook["env"]]


def main() -> None:
    try:
        err_fd = int(sys.argv[1])
        path = sys.argv[2]
        count = int(sys.argv[3])
        args = sys.argv[4:4 + count]
        env = sys.argv[4 + count:]
        os.set_inheritable(err_fd, False)
        sys.stdout.flush()
        become_hook(path, args, hook_env(env), err_fd)
    finally:
        os._exit(127)
