#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on loopback for the tests and prints its URL; run again
# while it runs, prints the same URL (idempotent). `ci/postgres.sh stop` stops it and removes its
# files. Installs Debian's postgresql with apt when the server binaries are missing (no system
# service is started). The cluster trusts loopback connections and skips fsync: test data only,
# gone with its directory. FLIPSIDE_PG_DIR (default /tmp/flipside-pg) and FLIPSIDE_PG_PORT
# (default 55432) place it.
set -euo pipefail
dir="${FLIPSIDE_PG_DIR:-/tmp/flipside-pg}"
port="${FLIPSIDE_PG_PORT:-55432}"
url="postgres://flipside@127.0.0.1:${port}/postgres"

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "installing postgresql (apt)" >&2
  # The package would start a system-wide cluster: policy-rc.d says no service starts.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
  rm -f /usr/sbin/policy-rc.d
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
fi

# PostgreSQL refuses to run as root: the cluster belongs to the postgres user (or nobody).
owner=postgres
id "$owner" >/dev/null 2>&1 || owner=nobody
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u "$owner" -- "$@"; else "$@"; fi; }

if [ "${1:-}" = stop ]; then
  if [ -f "$dir/data/postmaster.pid" ]; then as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >&2 || true; fi
  rm -rf "$dir"
  exit 0
fi

if [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  echo "$url"
  exit 0
fi
mkdir -p "$dir"
if [ "$(id -u)" = 0 ]; then chown "$owner" "$dir"; fi
if [ ! -f "$dir/data/PG_VERSION" ]; then
  as_owner "$bin/initdb" -D "$dir/data" -U flipside --auth=trust --no-instructions -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
fi
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" start >&2 \
  || { cat "$dir/server.log" >&2; exit 1; }
echo "$url"
