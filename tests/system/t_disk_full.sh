#!/usr/bin/env bash
# Disk full: a mergetree table in a tablespace on a small filesystem (a tmpfs this test
# mounts) is loaded until the filesystem fills. The load ends in Postgres' disk-full error
# (SQLSTATE 53100), the server keeps running, the table holds exactly the committed rows and
# verifies clean, background merges wait for room instead of filling what is left; once
# space is freed, inserts and merges work again.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $MT_AM == heap ]] && { echo "ok - $(basename "$0" .sh) # skip: a mergetree table's storage"; exit 0; }
export MT_BACKGROUND_MERGES=on
PORT=${T_DISK_FULL_PORT:-$(free_port 25490)}
t_setup
TS=$MT_ROOT/systest/disk_full_ts.$$
mkdir -p "$TS"
mount -t tmpfs -o size=64m tmpfs "$TS" || fail "cannot mount a tmpfs at $TS (the test needs root)"
chown "$MT_USER:" "$TS"
# The clusters stop first (t_cleanup), then the filesystem goes.
trap 't_cleanup; umount -l "$TS" 2>/dev/null; rmdir "$TS" 2>/dev/null || true' EXIT
t_cluster db "$PORT"

q() { sql_at "$PORT" postgres "$1"; }
summary() { q "SELECT count(*) || ' ' || coalesce(sum(id), 0) || ' ' || md5(coalesce(string_agg(md5(v), ',' ORDER BY id), '')) FROM t"; }
# Rows whose text does not compress: the filesystem fills after a few MB of parts.
rows_sql() { # LO HI
  echo "SELECT i, repeat(md5(i::text || 'a'), 8) || md5(random()::text) FROM generate_series($1::bigint, $2) i"
}

q "CREATE EXTENSION pg_mergetree"
q "CREATE TABLESPACE small LOCATION '$TS'"
q "CREATE TABLE t (id bigint, v text) USING mergetree WITH (order_by = 'id') TABLESPACE small"
# A filler whose space is given back later.
q "CREATE TABLE filler TABLESPACE small AS SELECT repeat(md5(i::text), 4) AS x FROM generate_series(1, 250000) i"
q "INSERT INTO t $(rows_sql 1 10000)"
want=$(summary)
next=10001
err=
for ((k = 0; k < 200; k++)); do
  if out=$(psql_at "$PORT" -d postgres -qAt -v VERBOSITY=verbose -c "INSERT INTO t $(rows_sql $next $((next + 19999)))" 2>&1); then
    next=$((next + 20000))
    want=$(summary)
  else
    err=$out
    break
  fi
done
[[ -n $err ]] || fail "the filesystem never filled (loaded up to id $next)"
note "the load stopped at id $next: $(head -1 <<<"$err")"
grep -q '53100' <<<"$err" || fail "not Postgres' disk-full error (53100): $err"
grep -qiE 'panicked|RUST_BACKTRACE' <<<"$err" && fail "Rust panic text in the error: $err"
wait_ready "$PORT" 10 || fail "the server is not accepting connections after the disk filled"
expect_eq "rows after the failed load (the committed ones)" "$(summary)" "$want"
expect_eq "mergetree.verify after the failed load" "$(q "SELECT count(*) FROM mergetree.verify('t')")" 0
# A merge cannot write its part either: an error, the inputs stay.
q "INSERT INTO t $(rows_sql 900000001 900000001)" 2>/dev/null || true
want=$(summary)
psql_at "$PORT" -d postgres -qAt -c "SELECT mergetree.optimize('t', final => true)" >/dev/null 2>&1 || note "optimize on a full filesystem failed (expected)"
expect_eq "rows after optimize on a full filesystem" "$(summary)" "$want"
# Space back: inserts work again, and background merges resume with the room they need
# (they wait while the filesystem lacks it, rather than fill it and fail).
q "DROP TABLE filler"
q "CHECKPOINT"
q "INSERT INTO t $(rows_sql 800000001 800001000)"
want=$(summary)
before=$(q "SELECT count(*) FROM mergetree.parts WHERE table_name = 't'::regclass")
for ((i = 0; i < 600; i++)); do
  (($(q "SELECT count(*) FROM mergetree.parts WHERE table_name = 't'::regclass") <= before / 2)) && break
  sleep 0.2
done
after=$(q "SELECT count(*) FROM mergetree.parts WHERE table_name = 't'::regclass")
((after <= before / 2)) || fail "merges did not resume once space came back: $before parts, then $after"
note "parts: $before when space came back, $after after background merges"
expect_eq "rows after space came back, an insert and merges" "$(summary)" "$want"
expect_eq "mergetree.verify at the end" "$(q "SELECT count(*) FROM mergetree.verify('t')")" 0
t_pass
