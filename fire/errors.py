"""One exception tree for everything Fire reports to a user.

Every error a user can cause or meet is a ``FireError`` whose ``template`` is an
English ``str.format`` string; ``str(err)`` renders it in the user's language
(``fire.i18n``).  The CLI prints that one line (exit 1); ``--debug`` adds the chain.
Kernel calls raise ``OSError`` (with errno and the path they touched) at the syscall
boundary; code that knows what it was doing wraps them in ``SyscallError`` to say so.

Wording that engines match is runc's, verbatim: "container does not exist",
"container not running", "no such process", "executable file not found in $PATH".
"""

from __future__ import annotations

import errno as _errno
import os

from fire.i18n import render


class FireError(Exception):
    """Base of all user-facing errors."""

    template = "{detail}"

    def __init__(self, template: str | None = None, /, **params: object) -> None:
        if template is not None:
            self.template = template
        self.params = params
        super().__init__(self.template, params)

    def __str__(self) -> str:
        return render(self.template, self.params)


class UsageError(FireError):
    """The command line is wrong."""


class ConfigError(FireError):
    """config.json (or another input document) is malformed or inconsistent.

    ``where`` is the JSON path (``$.process.user.uid``) or "" ; ``detail`` is itself
    a template, formatted with ``params`` and translated on its own.
    """

    template = "invalid {document}: {where}{sep}{detail}"

    def __init__(self, where: str, detail: str, document: str = "config.json",
                 **params: object) -> None:
        super().__init__(None, where=where, sep=": " if where else "", detail=detail,
                         document=document)
        self.where = where
        self.detail = detail
        self.detail_params = params

    def __str__(self) -> str:
        detail = render(self.detail, self.detail_params)
        return render(self.template, {**self.params, "detail": detail})


class ContainerError(FireError):
    """A container-level condition: missing, existing, wrong state."""


class NotFound(ContainerError):
    template = "container does not exist"

    def __init__(self, cid: str = "") -> None:
        super().__init__(None, id=cid)


class NotRunning(ContainerError):
    template = "container not running"

    def __init__(self, cid: str = "") -> None:
        super().__init__(None, id=cid)


class StateCorrupt(ContainerError):
    template = "container {id}: its state file is unreadable: {detail}"


class LifecycleError(FireError):
    """An operation the lifecycle does not allow in the container's current state."""


class HookError(FireError):
    """A hook failed, or ran past its timeout."""


class CgroupError(FireError):
    """A cgroup operation or resource value this host cannot apply."""


class SyscallError(FireError):
    """A kernel call failed while doing something Fire can name."""

    template = "{what}: {path}{sep}{reason}"

    def __init__(self, what: str, err: OSError, path: str | None = None) -> None:
        target = path if path is not None else (err.filename or "")
        reason = os.strerror(err.errno) if err.errno else str(err)
        super().__init__(None, what=what, path=target, sep=": " if target else "", reason=reason)
        self.errno = err.errno or _errno.EIO
        self.__cause__ = err

    def __str__(self) -> str:
        what = str(self.params["what"])
        return render(self.template, {**self.params, "what": render(what, {})})


class InitError(FireError):
    """An error the container's init reported while setting the container up."""

    template = "{stage}: {detail}"
    hook_failed = False  # at start: a startContainer hook failed (the container is destroyed)


def describe(exc: BaseException) -> str:
    """One line for any exception; used where a non-Fire error reaches the user."""
    if isinstance(exc, FireError):
        return str(exc)
    if isinstance(exc, OSError):
        parts = [os.strerror(exc.errno) if exc.errno else str(exc)]
        if exc.filename:
            parts.insert(0, str(exc.filename))
        return ": ".join(parts)
    return f"{type(exc).__name__}: {exc}"
