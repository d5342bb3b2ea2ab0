#!/usr/bin/env bash
# Makes tests/upgrade/fixture-<commit>.tar.xz: a PostgreSQL 15 data directory written by the
# build of COMMIT (default: 9f07cba, the version that landed before the aggregation, merges,
# engines and DELETE/UPDATE wave: extension version 0.1.0) holding the tables of
# fixture.sql. Not run by make test (it builds the old commit): t_upgrade reads its output.
# Usage: tests/upgrade/make_fixture.sh [COMMIT]   (as root; about 5 minutes)
set -Eeuo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/lib.sh
. "$here/../../scripts/lib.sh"
COMMIT=${1:-9f07cba}
WORK=${FIXTURE_WORK:-/var/tmp/pg_mergetree/fixture-$COMMIT}
PORT=${FIXTURE_PORT:-$(free_port 25600)}
rm -rf "$WORK" && mkdir -p "$WORK"
git -C "$here/../.." worktree add -f "$WORK/src" "$COMMIT" >/dev/null
trap 'git -C "$here/../.." worktree remove --force "$WORK/src" >/dev/null 2>&1 || true' EXIT
log "building $COMMIT"
(cd "$WORK/src" && PGRX_HOME=${PGRX_HOME:-/var/tmp/pg_mergetree/pgrx} CARGO_TARGET_DIR="$WORK/target" \
  cargo pgrx package --pg-config /usr/lib/postgresql/15/bin/pg_config --debug --out-dir "$WORK/pkg" >"$WORK/build.log" 2>&1) \
  || { tail -20 "$WORK/build.log"; die "build of $COMMIT failed"; }
# A private copy of the server whose extension files are the old build's: Postgres finds its
# libraries and share directory relative to its binaries.
inst=$WORK/inst
mkdir -p "$inst/usr/lib/postgresql" "$inst/usr/share/postgresql"
cp -a /usr/lib/postgresql/15 "$inst/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$inst/usr/share/postgresql/"
cp -a "$WORK/pkg/usr/." "$inst/usr/"
bin=$inst/usr/lib/postgresql/15/bin
ensure_user
data=$WORK/data
mkdir -m 700 "$data" "$WORK/sock" && chown "$MT_USER:" "$data" "$WORK/sock" "$WORK"
as_pg "$bin/initdb" -D "$data" --locale=C --encoding=UTF8 --auth=trust --username=postgres >/dev/null
{
  echo "port = $PORT"
  echo "listen_addresses = '127.0.0.1'"
  echo "unix_socket_directories = '$WORK/sock'"
  echo "shared_preload_libraries = 'pg_mergetree'"
  echo "wal_level = replica"
} | as_pg tee -a "$data/postgresql.conf" >/dev/null
as_pg "$bin/pg_ctl" start -w -D "$data" -l "$WORK/server.log" >/dev/null
psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -q -f "$here/fixture.sql"
psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -qc "CHECKPOINT"
as_pg "$bin/pg_ctl" stop -w -D "$data" -m fast >/dev/null
# Shut down cleanly, the server needs none of its old WAL: a fresh, empty segment packs small.
as_pg "$bin/pg_resetwal" -D "$data" >/dev/null
rm -f /tmp/mt_fixture_rows.copy
# Only what a server needs to start: no logs, no configuration of this machine's ports.
rm -rf "$data/log" "$data/postmaster.opts"
sed -i '/^port = \|^listen_addresses\|^unix_socket_directories/d' "$data/postgresql.conf"
out=$here/fixture-$COMMIT.tar.xz
tar -C "$WORK" -cJf "$out" data
log "wrote $out ($(du -h "$out" | cut -f1))"
