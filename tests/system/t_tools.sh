#!/usr/bin/env bash
# Tools that copy a table's reloptions without quoting them: SQLAlchemy's reflection
# (CREATE TABLE ... WITH (order_by = a, b, ...)) and pg_partman's template tables (ALTER
# TABLE child SET (order_by=...) on each new, empty partition) must recreate mergetree
# tables with the same options.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
use_ext || { echo "ok - $(basename "$0" .sh) # skipped: needs the extension"; exit 0; }
PORT=${T_TOOLS_PORT:-$(free_port 25490)}
PY=${BENCH_PYTHON:-$MT_ROOT/bench-venv/bin/python}
t_setup
t_cluster db "$PORT"
q() { sql_at "$PORT" postgres "$1"; }
q "$(ext_sql)"
"$PY" -c 'import sqlalchemy' 2>/dev/null || fail "$PY cannot import sqlalchemy: run scripts/setup.sh"

# SQLAlchemy: a reflected table's DDL recreates it with the same options.
q "CREATE TABLE events (org_id text, user_id text, \"timestamp\" timestamp, props text) USING mergetree
   WITH (order_by = 'org_id, user_id, \"timestamp\"', primary_key = 'org_id', partition_by = 'date_trunc(''month'', \"timestamp\")',
         codecs = '\"timestamp\": DoubleDelta, ZSTD(3)', dictionary = 'auto; props: off', index_granularity = 4096)"
out=$("$PY" "$(dirname "${BASH_SOURCE[0]}")/py/sqlalchemy_roundtrip.py" "$PORT" events events_copy) || fail "sqlalchemy: $out"
note "$(grep '^DDL' <<<"$out")"
src=$(grep '^source:' <<<"$out" | cut -d' ' -f2-)
dst=$(grep '^copy:' <<<"$out" | cut -d' ' -f2-)
expect_eq "SQLAlchemy's copy has the access method and options" "$dst" "$src"
q "INSERT INTO events_copy VALUES ('acme', 'u1', '2026-01-01 10:00', 'x'), ('acme', 'u0', '2026-01-02', 'y')"
expect_eq "rows in the copy, in key order" "$(q "SELECT string_agg(user_id, ',') FROM events_copy")" "u0,u1"

# pg_partman: children take the template's options and are mergetree tables.
q "CREATE SCHEMA partman"
q "CREATE EXTENSION pg_partman SCHEMA partman"
q "CREATE TABLE measurements (device text, ts timestamp NOT NULL, v float8) PARTITION BY RANGE (ts)"
q "CREATE TABLE measurements_template (device text, ts timestamp NOT NULL, v float8) USING mergetree
   WITH (order_by = 'device, ts', codecs = 'v: Gorilla', index_granularity = 2048)"
q "ALTER DATABASE postgres SET default_table_access_method = mergetree"
q "SELECT partman.create_parent('public.measurements', 'ts', 'native', 'daily',
     p_premake := 2, p_start_partition := '2026-01-01', p_template_table := 'public.measurements_template')" >/dev/null
q "ALTER DATABASE postgres RESET default_table_access_method"
children=$(q "SELECT string_agg(DISTINCT a.amname || ' ' || c.reloptions::text, ' | ')
              FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_am a ON a.oid = c.relam
              WHERE i.inhparent = 'measurements'::regclass")
expect_eq "every partition is mergetree with the template's options" "$children" \
  "mergetree {\"order_by='device, ts'\",\"codecs='v: Gorilla'\",index_granularity=2048}"
q "INSERT INTO measurements SELECT 'd' || (g % 5), '2026-01-01'::timestamp + g * interval '10 minutes', g FROM generate_series(0, 400) g"
expect_eq "rows per partition" "$(q "SELECT string_agg(n::text, ',' ORDER BY t) FROM (SELECT tableoid::regclass::text AS t, count(*) AS n FROM measurements GROUP BY 1) s")" \
  "144,144,113"
expect_eq "a partition's rows come in key order" "$(q "SELECT string_agg(device, ',') FROM (SELECT DISTINCT ON (device) device FROM measurements_p2026_01_02) s")" "d0,d1,d2,d3,d4"
t_pass
