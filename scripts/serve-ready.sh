#!/bin/sh
# serve-ready.sh DATA_DIR [FLAG ...]: starts wirefleet-server on DATA_DIR and
# exits as soon as it serves (its admin socket is there), stopping it: the
# whole start as a command, for farm-bench (docs/BENCHMARKS.md, "Sealed
# secrets").
set -eu
data=$1
shift
"${WIREFLEET_SERVER:-bin/wirefleet-server}" serve --data-dir "$data" --listen 127.0.0.1:0 --stun-listen off --relay=false "$@" >/dev/null 2>&1 &
pid=$!
while [ ! -S "$data/wirefleet.sock" ]; do
	kill -0 "$pid" 2>/dev/null || { echo "serve-ready: the server exited" >&2; exit 1; }
	sleep 0.002
done
kill "$pid"
wait "$pid" || true
