"""The stage graph of a container's creation and start, as data, and its walk.

A stage names what it needs and which side runs it: the runtime (``fire create``),
or the init inside the container, which reports its stages over the channel while
the runtime waits.  Nothing here does I/O: the runtime-side actions and undos are
bound to the stage names by the driver (``fire.container.create``), which walks
``CREATE`` with ``Walk`` in ``order``'s order, one stage at a time, and, when a stage
fails, runs the undos of the stages that began, newest first, by stage name.

``levels`` says which stages have no path between them; the engine's driver does
not use it (it is sequential), the supervisor's relay (``fire.supervisor.relay``)
and the TUI read the graph to place the stages ``fire create`` reports.

A stage declared ``ahead`` may be run by fire-supervise *before* it runs ``fire
create`` (``supervisor_setup`` derives the supervisor's set-up graph from
``CREATE``): its work needs no fork, no unshare and no state directory, so a
threaded trio process can do it, concurrently with the other such stages, and hand
its result to ``fire create`` (``fire.prepared``), which then skips the stage and
does not report it.  seccomp (the filter compiled to BPF) and cgroup (the directory
made and limited, with the cgroupfs driver) are; storage is not: Fire's storage
stage records what it mounts in the state directory that ``claim`` makes, and its
undo reads that record, so it stays with the container's own create.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

RUNTIME = "runtime"
INIT = "init"
SUPERVISOR = "supervisor"  # fire-supervise's own stages, and the ``ahead`` ones it ran


class Stage:
    __slots__ = ("ahead", "name", "needs", "side")

    def __init__(self, name: str, needs: tuple[str, ...] = (), side: str = RUNTIME,
                 ahead: bool = False) -> None:
        self.name = name
        self.needs = needs
        self.side = side
        self.ahead = ahead  # the supervisor may run it before `fire create` (see above)

    def __repr__(self) -> str:
        return f"Stage({self.name!r})"


CREATE: tuple[Stage, ...] = (
    Stage("validate"),
    Stage("claim", ("validate",)),
    Stage("cgroup", ("claim",), ahead=True),
    Stage("seccomp", ("validate",), ahead=True),
    # Fire's own storage and network (fire.storage.stage, fire.net.stage): they do
    # something only when the container asks for them (run.fire.* annotations).
    Stage("storage", ("claim",)),
    Stage("network", ("claim",)),
    Stage("spawn", ("cgroup", "seccomp", "storage", "network")),
    Stage("namespaces", ("spawn",), INIT),
    Stage("rootfs", ("namespaces",), INIT),
    Stage("mounts", ("rootfs",), INIT),
    Stage("devices", ("mounts",), INIT),
    # The init asks for these two (its Hooks message) and waits for them.
    Stage("network:attach", ("devices",)),
    Stage("hooks:runtime", ("network:attach",)),
    Stage("hooks:createContainer", ("hooks:runtime",), INIT),  # only when there are some
    Stage("pivot_root", ("hooks:createContainer",), INIT),
    Stage("paths", ("pivot_root",), INIT),
    Stage("process", ("paths",), INIT),  # only when the config has a process
    Stage("created", ("process",)),
)

START: tuple[Stage, ...] = (
    Stage("hooks:startContainer", (), INIT),
    Stage("exec", ("hooks:startContainer",), INIT),
    Stage("hooks:poststart", ("exec",)),
)


def order(stages: tuple[Stage, ...]) -> list[str]:
    """A topological order (stable: the listed order where the graph allows)."""
    done: list[str] = []
    names = {s.name for s in stages}
    pending = list(stages)
    while pending:
        for stage in pending:
            if all(n in done or n not in names for n in stage.needs):
                done.append(stage.name)
                pending.remove(stage)
                break
        else:
            raise ValueError("the stage graph has a cycle")
    return done


def levels(stages: tuple[Stage, ...]) -> list[list[str]]:
    """Stages grouped by depth: the stages of one level have no path between them."""
    depth: dict[str, int] = {}
    for name in order(stages):
        stage = next(s for s in stages if s.name == name)
        depth[name] = 1 + max((depth[n] for n in stage.needs if n in depth), default=-1)
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name, d in depth.items():
        out[d].append(name)
    return out


def supervisor_setup(stages: tuple[Stage, ...], own: tuple[Stage, ...],
                     stand_ins: Mapping[str, tuple[str, ...]], create: str, start: str,
                     ahead: Callable[[Stage], bool] = lambda s: s.ahead) -> tuple[Stage, ...]:
    """The supervisor's set-up graph, derived from ``stages`` (``CREATE``).

    ``own`` are the supervisor's stages before ``create`` (logs, bundle, leftover);
    each stage of ``stages`` that is ``ahead`` (and that ``ahead`` accepts: the
    supervisor's configuration may rule one out) becomes a supervisor-side stage,
    whose needs are its needs in ``stages`` read through ``stand_ins``: what the
    supervisor does in place of a runtime stage it does not run (validate → bundle,
    which reads the config; claim → bundle and leftover, after which the id is
    free).  A need
    that is itself run ahead stays.  ``create`` needs all of them, ``start`` needs
    ``create``.
    """
    taken = [s for s in stages if s.ahead and ahead(s)]
    names = {s.name for s in taken}
    out = list(own)
    for stage in taken:
        needs: list[str] = []
        for need in stage.needs:
            for n in ((need,) if need in names else stand_ins.get(need, ())):
                if n not in needs:
                    needs.append(n)
        out.append(Stage(stage.name, tuple(needs), SUPERVISOR))
    out.append(Stage(create, tuple(s.name for s in (*own, *taken)), SUPERVISOR))
    out.append(Stage(start, (create,), SUPERVISOR))
    order(tuple(out))  # no cycle
    return tuple(out)


class Walk:
    """The synchronous driver: one walk of a graph, in ``order``.

    ``run`` calls, for each runtime-side stage, ``report(name, "start")``, its action
    and ``report(name, "done")``; for each init-side stage, ``follow(name)``, which
    serves the init until it has gone past that stage (its own reports arrive on the
    way).  ``unwind`` then runs the undos of the stages that began (the failing one
    included: an undo checks what its stage made), newest first.  An action that does
    part of a later stage's work ahead of it (create's early claim) says so with
    ``ahead``, before it makes anything: that stage's undo then runs too.
    """

    def __init__(self, stages: tuple[Stage, ...]) -> None:
        self.stages = stages
        self.order = order(stages)
        self.sides = {s.name: s.side for s in stages}
        self.begun: list[str] = []

    def ahead(self, name: str) -> None:
        if name not in self.begun:
            self.begun.append(name)

    def run(self, actions: Mapping[str, Callable[[], None]],
            follow: Callable[[str], None], report: Callable[[str, str], None],
            prepared: Mapping[str, Callable[[], None]] | None = None) -> None:
        """``prepared``: the stages fire-supervise ran ahead (stage name -> what takes
        over their result); they are not reported (the supervisor did), and are
        undone like the others if a later stage fails."""
        for name in self.order:
            if self.sides[name] != RUNTIME:
                follow(name)
                continue
            self.ahead(name)
            if prepared and name in prepared:
                prepared[name]()
                continue
            report(name, "start")
            actions[name]()
            report(name, "done")

    def unwind(self, undos: Mapping[str, Callable[[], None] | None],
               failed: Callable[[str, BaseException], None],
               errors: tuple[type[BaseException], ...] = (Exception,)) -> None:
        """Each begun stage's undo, newest first; an undo that fails is told to
        ``failed`` and the others still run."""
        while self.begun:
            name = self.begun.pop()
            undo = undos.get(name)
            if undo is None:
                continue
            try:
                undo()
            except errors as exc:
                failed(name, exc)
