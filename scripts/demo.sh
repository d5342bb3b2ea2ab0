#!/usr/bin/env bash
# Load the events demo into the private cluster and run a few analytic queries.
# Assumes pg_mergetree is installed (make demo does setup + install first).
# Env: DEMO_ROWS (1000000), MT_PORT, MT_DATA, MT_USER as for cluster.sh; MT_AM=heap for plain heap.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

PORT=${MT_PORT:-5499}
ROWS=${DEMO_ROWS:-1000000}
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || die "DEMO_ROWS must be a positive integer, not '$ROWS'"

"$here/cluster.sh" start
if [[ -z $(sql_at "$PORT" postgres "SELECT 1 FROM pg_database WHERE datname = 'demo'") ]]; then
  log "creating database demo"
  sql_at "$PORT" postgres "CREATE DATABASE demo"
fi

log "running scripts/demo.sql with $ROWS rows (table access method: $MT_AM)"
psql_at "$PORT" -d demo -v rows="$ROWS" -v am="$MT_AM" -f "$here/demo.sql"

echo
echo "The demo cluster is still running. Connect with:"
echo "  psql -h 127.0.0.1 -p $PORT -U postgres demo"
echo "Stop it with: $here/cluster.sh stop"
