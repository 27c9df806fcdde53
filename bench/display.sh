#!/usr/bin/env bash
# Display (virtio-gpu + VNC) against QEMU 7.2: a thin wrapper, bench/display.py does the work.
# usage: bash bench/display.sh [-n RUNS] [--no-build] [--only fps1,fps4,keys] [--window S] [--warmup S]
#                              [--presses N] [--out DIR] [--keep]
exec python3 "$(dirname "${BASH_SOURCE[0]}")/display.py" "$@"
