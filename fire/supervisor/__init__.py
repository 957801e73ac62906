"""``fire-supervise``: a trio supervisor of containers (see docs/supervisor.md).

    cli          the command line                    config     the TOML file (msgspec)
    supervisor   the units of one file; reload, stop  unit       one container's runs
    graph        the trio stage-graph driver          policy     restart/health rules (pure)
    engine       `fire create/start/delete/exec` as subprocesses
    reaper       child subreaper: pidfd waits, orphan reaping
    bus, server  events: replay, subscribers, the Unix socket and control requests
    signals      one channel for every signal         output     container output → logs
    cgstats      cgroup numbers                       metrics    Prometheus /metrics
    journal      the supervisor's own log             files      its files in --root

Importing this package imports nothing: ``fire logs`` and ``fire events --follow``
use ``fire.supervisor.files`` without paying for trio.
"""
