#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the tests on a Unix socket (no TCP) and
# prints its URL; `stop` stops it. Uses Debian's postgresql server binaries;
# prints nothing and exits 1 when they are not installed.
set -euo pipefail
DIR=${WIREFLEET_PG_DIR:-/tmp/wirefleet-pg}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$BIN" ] && [ -x "$BIN/initdb" ] || exit 1
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "${1:-start}" in
start)
	if [ ! -f "$DIR/data/PG_VERSION" ]; then
		mkdir -p "$DIR"
		[ "$(id -u)" = 0 ] && chown postgres "$DIR"
		as_pg "$BIN/initdb" -D "$DIR/data" -A trust -U postgres >/dev/null
	fi
	if ! as_pg "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
		as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w \
			-o "-k $DIR -c listen_addresses='' -c max_connections=300 -c fsync=off" start >/dev/null
	fi
	echo "postgres://postgres@/postgres?host=$DIR&sslmode=disable"
	;;
stop)
	as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null 2>&1 || true
	;;
esac
