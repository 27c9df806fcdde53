# Sourced by .ci/run and tools/nested-kvm/inside-tests.sh: a throwaway PostgreSQL cluster for the store tests.
# It is owned by the postgres user (initdb refuses root) and listens only on a unix socket in its own mode-700
# directory, so trust authentication lets in no one but postgres and root. The tests read the connection string
# from SHARPVISOR_TEST_POSTGRES; without it (and with CI=true) the PostgreSQL store tests fail.

# pg_bin: Debian's server binaries live in /usr/lib/postgresql/VERSION/bin, off PATH.
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }

# start_postgres: starts the cluster and exports SHARPVISOR_TEST_POSTGRES; prints one line saying so.
start_postgres() {
  local bin started=$SECONDS; bin=$(pg_bin)
  [ -x "$bin/initdb" ] || { echo "no PostgreSQL server installed: its store tests will fail"; return 1; }
  pg_dir=$(mktemp -d /tmp/sharpvisor-pg.XXXXXX)
  chown postgres: "$pg_dir"
  if ! runuser -u postgres -- "$bin/initdb" -D "$pg_dir/data" -U postgres -A trust -E UTF8 --no-sync >"$pg_dir/initdb.log" 2>&1; then
    cat "$pg_dir/initdb.log"; echo "could not start PostgreSQL: its store tests will fail"; return 1
  fi
  if ! runuser -u postgres -- "$bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 600 \
      -o "-c listen_addresses='' -c unix_socket_directories='$pg_dir'" start >/dev/null; then
    cat "$pg_dir/server.log"; echo "could not start PostgreSQL: its store tests will fail"; return 1
  fi
  runuser -u postgres -- "$bin/createdb" -h "$pg_dir" sharpvisor_test || return 1
  export SHARPVISOR_TEST_POSTGRES="Host=$pg_dir;Username=postgres;Database=sharpvisor_test"
  echo "$("$bin/postgres" --version) on $pg_dir, up in $((SECONDS - started)) s"
}

stop_postgres() {
  [ -n "${pg_dir:-}" ] || return 0
  runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1
  rm -rf "$pg_dir"
  pg_dir=""
}
