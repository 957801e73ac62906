"""The stage graph of a container's creation and start, as data.

Both drivers walk this graph: the synchronous one on the engine path
(``fire.container.create``) and the trio one in the supervisor.  A stage names what
it needs, which side runs it (the runtime, or the init inside the container), and
what undoes it when a later stage fails.  Stages with no path between them may run
concurrently (the supervisor does: seccomp ∥ cgroup).
"""

from __future__ import annotations

RUNTIME = "runtime"
INIT = "init"


class Stage:
    __slots__ = ("name", "needs", "side", "undo")

    def __init__(self, name: str, needs: tuple[str, ...] = (), side: str = RUNTIME,
                 undo: str | None = None) -> None:
        self.name = name
        self.needs = needs
        self.side = side
        self.undo = undo

    def __repr__(self) -> str:
        return f"Stage({self.name!r})"


CREATE: tuple[Stage, ...] = (
    Stage("validate"),
    Stage("claim", ("validate",), undo="remove the state directory"),
    Stage("cgroup", ("claim",), undo="remove the cgroup"),
    Stage("seccomp", ("validate",)),
    # Fire's own storage and network (fire.storage.stage, fire.net.stage): only
    # when the container asks for them (run.fire.* annotations).
    Stage("storage", ("claim",), undo="remove the upper layer (or keep it)"),
    Stage("network", ("claim",), undo="release the address and the bridge network"),
    Stage("spawn", ("cgroup", "seccomp", "storage", "network"), undo="kill the init"),
    Stage("namespaces", ("spawn",), INIT),
    Stage("rootfs", ("namespaces",), INIT),
    Stage("mounts", ("rootfs",), INIT),
    Stage("devices", ("mounts",), INIT),
    Stage("network:attach", ("devices",), undo="delete the veth"),
    Stage("hooks:runtime", ("network:attach",)),
    Stage("hooks:createContainer", ("hooks:runtime",), INIT),
    Stage("pivot_root", ("hooks:createContainer",), INIT),
    Stage("paths", ("pivot_root",), INIT),
    Stage("process", ("paths",), INIT),
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
    """Stages grouped by depth: the stages of one level may run concurrently."""
    depth: dict[str, int] = {}
    for name in order(stages):
        stage = next(s for s in stages if s.name == name)
        depth[name] = 1 + max((depth[n] for n in stage.needs if n in depth), default=-1)
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name, d in depth.items():
        out[d].append(name)
    return out
