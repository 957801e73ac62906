"""The systemd cgroup driver: a container's cgroup as a transient scope unit.

On a host that boots systemd, systemd owns the cgroup tree: a runtime that makes
directories there behind its back sees them moved, its limits overwritten on the
next ``daemon-reload``, and its containers invisible to ``systemctl``.  So engines
ask for this driver (podman's ``cgroup_manager = "systemd"``, containerd's
``SystemdCgroup = true``) and runc's answer is followed step by step:

* ``create`` asks systemd over D-Bus for a transient scope (``StartTransientUnit``)
  holding the init's pid, with ``Delegate=yes`` (the subtree is ours to write),
  ``DefaultDependencies=no`` (the scope must not wait for or stop with the boot's
  targets), the slice, and every limit systemd can express (``fire.cgroup.sdprops``),
  then waits for the job's ``JobRemoved`` signal.  systemd moves the pid into the
  new cgroup itself.  After that this is a cgroupfs ``Manager`` of the scope's
  path: the whole translation is written into its files (what systemd could not
  express, and the exact values), including Fire's eBPF device program.
* cgroup v1/hybrid: systemd makes the scope in the hierarchies it manages
  (``name=systemd`` and those of the controllers it delegates); the others get a
  directory at the same relative path, made and joined here, as runc does.  No host
  here boots systemd on v1, so that branch is exercised only through the cgroupfs
  code it shares.
* ``update`` sends ``SetUnitProperties`` (runtime) before writing the files;
  pause/resume, stats, ps and ``kill --all`` use the scope's directory as they use
  any container's.
* ``destroy`` kills what is left, stops the unit (``StopUnit``, waiting for its
  job), resets it if it failed so no trace stays in ``systemctl list-units --all``,
  and removes the v1 directories it made.  The slice stays, as runc leaves it:
  systemd made it for the first unit that named it, and others may use it now.

The driver is chosen at ``create`` (``--systemd-cgroup``) and recorded in state.json
(``driver``, ``unit``), so later commands use it without the flag, as runc's do.
"""

from __future__ import annotations

import os

from fire.cgroup.manager import Manager
from fire.errors import CgroupError
from fire.log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cgroup.dbus import Bus
    from fire.cgroup.hierarchy import Hierarchy
    from fire.cgroup.sdname import UnitName
    from fire.cgroup.translate import Translation

JOB_TIMEOUT = 30.0  # seconds, runc's


def _bus() -> Bus:
    from fire.cgroup.dbus import Bus

    return Bus.connect()


class SystemdManager(Manager):
    driver = "systemd"

    def __init__(self, path: str, unit: str, slice: str,
                 hierarchies: list[Hierarchy] | None = None) -> None:
        super().__init__(path, hierarchies)
        self.unit = unit
        self.slice = slice
        # Whether StartTransientUnit may have reached systemd: False until it is
        # sent, so a create that failed before it has no unit to stop.
        self.started = True

    @classmethod
    def for_unit(cls, name: UnitName) -> SystemdManager:
        mgr = cls(name.path, name.unit, name.slice)
        mgr.started = False
        return mgr

    # ------------------------------------------------------------------ state
    def to_state(self) -> dict[str, object]:
        out = super().to_state()
        out.update(driver=self.driver, unit=self.unit, slice=self.slice)
        return out

    @classmethod
    def load(cls, data: dict[str, object],
             hierarchies: list[Hierarchy] | None = None) -> SystemdManager:
        mgr = cls(str(data["path"]), str(data.get("unit", "")), str(data.get("slice", "")),
                  hierarchies)
        created = data.get("created")
        mgr.created = [c for c in created if isinstance(c, str)] if isinstance(created, list) else []
        resources = data.get("resources")
        mgr.resources = resources if isinstance(resources, dict) else None
        return mgr

    # ------------------------------------------------------------------ create
    def start(self, pid: int, translation: Translation, description: str) -> None:
        """Start the scope with ``pid`` in it and the limits systemd can express."""
        from fire.cgroup.sdprops import properties

        props: list[tuple[str, tuple[str, object]]] = [
            ("Description", ("s", description)),
            ("Slice", ("s", self.slice)),
            ("Delegate", ("b", True)),
            ("PIDs", ("au", [pid])),
            ("MemoryAccounting", ("b", True)),
            ("CPUAccounting", ("b", True)),
            ("IOAccounting", ("b", True)),
            ("TasksAccounting", ("b", True)),
            ("DefaultDependencies", ("b", False)),
        ]
        props += properties(translation)
        if not os.path.isdir("/run/systemd/system"):  # sd_booted(3), runc's check
            raise CgroupError("--systemd-cgroup: this host does not run systemd "
                              "(/run/systemd/system does not exist); leave the flag out "
                              "to use cgroupfs")
        with _bus() as bus:
            self.started = True
            self._start(bus, props, retry=True)

    def _start(self, bus: Bus, props: list[tuple[str, tuple[str, object]]],
               retry: bool) -> None:
        from fire.cgroup.dbus import BusError

        try:
            (job,) = bus.call("StartTransientUnit", "ssa(sv)a(sa(sv))",
                              (self.unit, "replace", props, []))
        except BusError as exc:
            if exc.name.endswith(".UnitExists") and retry:
                # A failed unit of an earlier container with this name: let systemd
                # forget it, and try once more (runc).
                self._reset_failed(bus)
                self._start(bus, props, retry=False)
                return
            raise CgroupError("$.linux.cgroupsPath: systemd refused the scope {unit}: "
                              "{reason}", unit=self.unit, reason=exc.text or exc.name) from None
        except TimeoutError as exc:
            raise CgroupError("$.linux.cgroupsPath: no answer from systemd ({what}) "
                              "while starting {unit}", what=str(exc), unit=self.unit) from None
        except OSError as exc:
            raise CgroupError("cannot start the scope {unit}: the connection to systemd "
                              "failed ({reason})", unit=self.unit, reason=str(exc)) from None
        result = self._wait(bus, str(job))
        if result != "done":
            self._reset_failed(bus)
            raise CgroupError("systemd could not start the scope {unit}: the job ended "
                              "{result!r}", unit=self.unit, result=result)
        mine = self.systemd_dir()
        if mine is not None and not os.path.isdir(mine):
            raise CgroupError("systemd started {unit} but its cgroup {path} does not exist",
                              unit=self.unit, path=mine)

    def systemd_dir(self) -> str | None:
        """The scope's directory in the hierarchy systemd tracks it by: the v2 tree
        (v2, and hybrid's unified mount), else v1's ``name=systemd``."""
        v2 = self.v2_dir()
        if v2 is not None:
            return v2
        for h in self.hierarchies:
            if "name=systemd" in h.options.split(","):
                return h.mountpoint.rstrip("/") + self.path
        return None

    def _wait(self, bus: Bus, job: str) -> str:
        try:
            return bus.wait_job(job, JOB_TIMEOUT)
        except TimeoutError:
            raise CgroupError("systemd did not finish the job {job} of {unit} within "
                              "{seconds} s", job=job, unit=self.unit,
                              seconds=int(JOB_TIMEOUT)) from None
        except OSError as exc:
            raise CgroupError("lost the connection to systemd while waiting for the job "
                              "{job} of {unit}: {reason}", job=job, unit=self.unit,
                              reason=str(exc)) from None

    def _reset_failed(self, bus: Bus) -> None:
        from fire.cgroup.dbus import BusError

        try:
            bus.call("ResetFailedUnit", "s", (self.unit,))
        except (BusError, OSError):
            pass  # not failed, or already gone: nothing to forget

    def join_rest(self, pid: int) -> None:
        """v1/hybrid: join ``pid`` in the hierarchies systemd left (``created``
        lists the directories made for them, recorded before they were made)."""
        self.create()
        for d in self.dirs():
            try:
                with open(os.path.join(d, "cgroup.procs")) as f:
                    if str(pid) in f.read().split():
                        continue
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    f.write(str(pid))
            except OSError as exc:
                raise CgroupError("cannot join cgroup {path}: {reason}", path=d,
                                  reason=exc.strerror) from None

    # ------------------------------------------------------------------ update
    def apply(self, translation: Translation, updating: bool = False) -> None:
        if updating:
            self.set_properties(translation)
        super().apply(translation, updating)

    def set_properties(self, translation: Translation) -> None:
        from fire.cgroup.dbus import BusError
        from fire.cgroup.sdprops import properties

        props = properties(translation)
        if not props:
            return
        try:
            with _bus() as bus:
                bus.call("SetUnitProperties", "sba(sv)", (self.unit, True, props))
        except BusError as exc:
            raise CgroupError("systemd refused the new limits of {unit}: {reason}",
                              unit=self.unit, reason=exc.text or exc.name) from None
        except OSError as exc:
            raise CgroupError("cannot update {unit} through systemd: {reason}",
                              unit=self.unit, reason=str(exc)) from None

    # ------------------------------------------------------------------ destroy
    def destroy(self, killed: bool = False) -> None:
        """Kill what is left, stop the unit and wait for it, remove v1 leftovers."""
        if not killed:
            self.kill_all()
        if self.started and self.unit:
            self._stop()
        super().destroy(killed=True)

    def _stop(self) -> None:
        from fire.cgroup.dbus import BusError

        try:
            with _bus() as bus:
                try:
                    (job,) = bus.call("StopUnit", "ss", (self.unit, "replace"))
                except BusError as exc:
                    if not exc.name.endswith(".NoSuchUnit"):
                        raise CgroupError("systemd refused to stop {unit}: {reason}",
                                          unit=self.unit,
                                          reason=exc.text or exc.name) from None
                else:
                    result = self._wait(bus, str(job))
                    if result != "done":
                        log.warning("systemd stopped {unit} with the result {result!r}",
                                    unit=self.unit, result=result)
                self._reset_failed(bus)
        except OSError as exc:
            raise CgroupError("cannot stop {unit} through systemd: {reason}",
                              unit=self.unit, reason=str(exc)) from None
