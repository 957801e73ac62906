#!/usr/bin/env bash
# Runs the cgroup v2 tests (marker `cgroup2`) on a cgroup-v2-only kernel, in the
# QEMU guest of the workplace's cgroup2-vm tool (it sees this checkout read-only,
# with throw-away writes, and the same interpreter and virtualenv).
#   tests/run-v2.sh [PYTEST ARGS]  run them (default: every cgroup2 test under tests/)
#   tests/run-v2.sh --available    exit 0 if the tool is on this machine
#   tests/run-v2.sh --systemd [PYTEST ARGS]
#                                  boot the guest with systemd as PID 1 (V2RUN_SYSTEMD=1)
#                                  and run the tests marked `systemd` (default: all of them)
# The tool is found at $FIRE_V2RUN, ../shared/tools/cgroup2-vm (next to a clone) or
# /work/shared/tools/cgroup2-vm; the interpreter is $FIRE_PYTHON, else the clone's
# .venv (bin/setup makes it), else the first python3 on PATH that has Fire's
# dependencies.  The guest is slow (software emulation): keep that suite small.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=""
for candidate in "${FIRE_V2RUN:-}" ../shared/tools/cgroup2-vm/v2run.sh \
                 /work/shared/tools/cgroup2-vm/v2run.sh; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then tool=$(cd "$(dirname "$candidate")" && pwd)/$(basename "$candidate"); break; fi
done
marker=cgroup2
if [ "${1:-}" = "--systemd" ]; then
  shift
  marker=systemd
  export V2RUN_SYSTEMD=1
fi
if [ "${1:-}" = "--available" ]; then
  [ -n "$tool" ]
  exit
fi
[ -n "$tool" ] || { echo "cgroup2-vm tool not found; set FIRE_V2RUN" >&2; exit 1; }

python=""
for candidate in "${FIRE_PYTHON:-}" "$PWD/.venv/bin/python" "$(command -v python3 || true)"; do
  [ -n "$candidate" ] && [ -x "$candidate" ] || continue
  if "$candidate" -c 'import msgspec, pytest' 2>/dev/null; then python=$candidate; break; fi
done
[ -n "$python" ] || { echo "no python with Fire's dependencies: run bin/setup --dev or set FIRE_PYTHON" >&2; exit 1; }
# A pyenv shim is a shell script that forks a dozen processes (seconds each in the
# guest): use the interpreter it stands for.  A virtualenv's python stays as it is.
case "$python" in
  */.pyenv/shims/*) python=$("$python" -c 'import sys; print(sys.executable)') ;;
esac

plugins=(-p no:cacheprovider)
# plugin autoload is off (it costs seconds in the guest): load the timeout plugin
# pyproject's `timeout` setting is for, when it is installed
if "$python" -c 'import pytest_timeout' 2>/dev/null; then plugins+=(-p pytest_timeout); fi
[ $# -gt 0 ] || set -- tests/
exec "$tool" env PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONPATH="$PWD" \
  "$python" -m pytest -q "${plugins[@]}" -m "$marker" "$@"
