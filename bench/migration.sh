#!/usr/bin/env bash
# Live migration and snapshots against QEMU 7.2 microvm: a thin wrapper, bench/migration.py does the work.
# usage: bash bench/migration.sh [-n RUNS] [--no-build] [--only CASE,...] [--out DIR] [--keep]
exec python3 "$(dirname "${BASH_SOURCE[0]}")/migration.py" "$@"
