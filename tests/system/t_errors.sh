#!/usr/bin/env bash
# Errors stay Postgres errors when the server runs with RUST_BACKTRACE=1 in its
# environment: no Rust backtrace in DETAIL (of our own errors, nor of Postgres errors
# raised while our code runs), no Rust panic text, and the server keeps serving.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
use_ext || { echo "ok - $(basename "$0" .sh) # skipped: needs the extension"; exit 0; }
PORT=${T_ERRORS_PORT:-$(free_port 25500)}
t_setup
T_CLUSTERS+=("$T_DIR/db")
init_cluster "$T_DIR/db" "$PORT" >/dev/null
as_pg env RUST_BACKTRACE=1 pg_ctl start -w -t 60 -D "$T_DIR/db" -l "$(cluster_log "$T_DIR/db")" >/dev/null
q() { sql_at "$PORT" postgres "$1"; }
err() { psql_at "$PORT" -d postgres -qAt -v VERBOSITY=verbose -c "$1" 2>&1 >/dev/null || true; }
q "$(ext_sql)"
q "CREATE TABLE t (a int, b text) USING mergetree WITH (order_by = 'a', partition_by = '100 / a')"
check() { # WHAT STATEMENT EXPECTED-MESSAGE
  local out
  out=$(err "$2")
  note "$1: $(head -1 <<<"$out")"
  grep -q "$3" <<<"$out" || fail "$1: expected '$3' in: $out"
  # (LOCATION names the source line an error was raised at, in C files and ours alike.)
  if grep -v '^LOCATION:' <<<"$out" | grep -qiE 'backtrace|rust_begin_unwind|^ +[0-9]+: |panicked at|index out of bounds|\.rs:[0-9]'; then
    fail "$1: Rust internals in the error: $out"
  fi
  (($(wc -l <<<"$out") <= 8)) || fail "$1: a long error ($(wc -l <<<"$out") lines): $out"
}
check "our error" "INSERT INTO t VALUES (1, 'x') ON CONFLICT DO NOTHING" "INSERT ... ON CONFLICT is not supported on mergetree table"
check "a Postgres error inside our update path" "INSERT INTO t VALUES (5, 'x'); UPDATE t SET a = 0" "division by zero"
check "a Postgres error inside our insert path" "INSERT INTO t VALUES (0, 'x')" "division by zero"
check "bad option" "CREATE TABLE u (a int) USING mergetree WITH (order_by = 'a, a')" "appears more than once"
check "bad partition expression" "CREATE TABLE u (a int) USING mergetree WITH (partition_by = 'a +')" "syntax error"
check "zero-column table insert" "CREATE TABLE z () USING mergetree; INSERT INTO z DEFAULT VALUES; SELECT count(*) / 0 FROM z" "division by zero"
expect_eq "server still serving" "$(q "INSERT INTO t VALUES (1, 'ok'); SELECT count(*) FROM t")" 1
t_pass
