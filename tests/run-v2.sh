#!/usr/bin/env bash
# Runs the cgroup v2 tests (marker `cgroup2`) on a cgroup-v2-only kernel, in the
# QEMU guest of the workplace's cgroup2-vm tool (it sees this checkout and .venv).
#   tests/run-v2.sh --available   exit 0 if the tool is on this machine
set -euo pipefail
cd "$(dirname "$0")/.."
tool=""
for candidate in "${FIRE_V2RUN:-}" ../shared/tools/cgroup2-vm/v2run.sh \
                 /work/shared/tools/cgroup2-vm/v2run.sh; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then tool=$candidate; break; fi
done
if [ "${1:-}" = "--available" ]; then
  [ -n "$tool" ]
  exit
fi
[ -n "$tool" ] || { echo "cgroup2-vm tool not found; set FIRE_V2RUN" >&2; exit 1; }
exec "$tool" env PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONPATH="$PWD" \
  "$PWD/.venv/bin/python" -m pytest -q -p no:cacheprovider -m cgroup2 tests/
