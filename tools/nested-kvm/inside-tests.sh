#!/usr/bin/env bash
# Runs inside the nested KVM host (started by tools/nested-kvm/test): a PostgreSQL of its own for the store tests
# that boot VMs (the machine's server, if any, listens on a socket this host cannot reach), then one `dotnet test`
# over the given test assemblies.
# Usage: inside-tests.sh FILTER RESULTS-DIR ASSEMBLY.dll...
set -uo pipefail
filter=$1 results=$2
shift 2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../../.ci/postgres.sh"

unset SHARPVISOR_TEST_POSTGRES
trap stop_postgres EXIT
start_postgres
echo "nested-kvm: $(sharpvisor_kind=$("$SHARPVISOR_TEST_BIN_DIR/sharpvisor" host-info 2>&1 | grep -i -m1 'virtualization'); echo "${sharpvisor_kind:-host-info says nothing of the virtualization}")"
# Normal verbosity: every test is named as it ends, so a run that stops shows where.
# A test hung for 25 minutes is killed with its name in the log (blame); slower ones are named every 2 minutes
# (xunit.runner.json).
dotnet test "$@" --filter "$filter" --logger "console;verbosity=normal" --logger trx --results-directory "$results" \
    --blame-hang --blame-hang-timeout 25m --blame-hang-dump-type none
