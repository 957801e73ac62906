"""``fire-supervise``: a trio supervisor of containers (see docs/supervisor.md).

    cli          the command line
    config       the TOML file (msgspec Structs)
    supervisor   the units of one file: start, reload, stop in dependency order
    unit         one container: its runs, restarts, health, stop
    graph        the trio stage-graph driver
    policy       restart and health rules (pure)
    engine       `fire create/start/delete/exec` as subprocesses
    forkserver   forked before trio: forks those subprocesses with Fire imported
    relay        `fire create`'s stage channel, read into events
    console      a terminal container's pty master, over a console socket
    reaper       child subreaper: pidfd waits, orphan reaping
    bus, server  events: replay, subscribers, the Unix socket, control requests
    client       a blocking client of that socket (no trio)
    signals      one channel for every signal
    output       a container's log file (its fds 1 and 2) followed into `log` events
                 (told by inotify which file was written)
    cgstats      cpu / memory / pids / OOM kills from the cgroup files
    metrics      Prometheus /metrics
    journal      the supervisor's own log (stderr)
    files        its files in --root

Importing this package imports nothing: ``fire logs`` and ``fire events --follow``
use ``fire.supervisor.files`` and ``client`` without paying for trio.
"""
