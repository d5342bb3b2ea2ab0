#!/usr/bin/env bash
# MergeTreeAgg within work_mem: GROUP BY and count(DISTINCT) over as many groups as rows
# (2M by default; T_AGG_MEMORY_ROWS=10000000 for the 10M-group run) with a small
# work_mem give exact results, in passes (or in Postgres' own spilling plan beyond 16
# passes), and the backend's peak private memory stays far below the groups' size.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${T_AGG_MEMORY_PORT:-$(free_port 25470)}
ROWS=${T_AGG_MEMORY_ROWS:-2000000}
t_setup
t_cluster db "$PORT"
q() { sql_at "$PORT" postgres "$1"; }
ext=$(ext_sql)
[[ -z $ext ]] || q "$ext"
q "CREATE TABLE t (id bigint, g bigint) $(am_clause "order_by = 'id'")"
q "COPY t FROM PROGRAM 'seq 1 $ROWS | awk ''{ printf \"%d\\t%d\\n\", \$1, (\$1 * 7919) % $ROWS }'''"
# One session: the settings, the queries, then its peak memory (VmHWM minus the shared
# buffers it touched).
out=$(psql_at "$PORT" -d postgres -qAt <<SQL
SET work_mem = '8MB';
SET hash_mem_multiplier = 1;
SELECT count(*), sum(c), min(c), max(c) FROM (SELECT g, count(*) AS c FROM t GROUP BY g) s;
SELECT count(DISTINCT g), count(DISTINCT id) FROM t;
SELECT (regexp_match(s, 'VmHWM:\\s+(\\d+)'))[1]::bigint - (regexp_match(s, 'RssShmem:\\s+(\\d+)'))[1]::bigint
FROM pg_read_file('/proc/' || pg_backend_pid() || '/status') s;
SQL
)
mapfile -t lines <<<"$out"
expect_eq "groups, their rows, smallest and largest" "${lines[0]}" "$ROWS|$ROWS|1|1"
expect_eq "distinct values" "${lines[1]}" "$ROWS|$ROWS"
peak_kb=${lines[-1]}
note "peak private memory of the backend: ${peak_kb} kB"
# How the node did it (passes, or Postgres' plan beyond them).
plan=$(psql_at "$PORT" -d postgres -qAt <<SQL
SET work_mem = '8MB';
SET hash_mem_multiplier = 1;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT g, count(*) FROM t GROUP BY g;
SQL
)
note "grouping: $(grep -E 'MergeTreeAgg|Passes|Fallback' <<<"$plan" | tr -s ' ' | paste -sd ';' -)"
if [[ ${MT_AM:-mergetree} == mergetree ]]; then
  grep -q "MergeTreeAgg" <<<"$plan" || fail "the node did not plan the grouping"
fi
# 100 bytes a group would be ${ROWS}00 bytes held at once; the budget is 8 MB per pass.
groups_kb=$((ROWS / 10))
((peak_kb < 200000)) || fail "peak memory ${peak_kb} kB is not bounded by work_mem"
((peak_kb < groups_kb)) || fail "peak memory ${peak_kb} kB holds every group (${groups_kb} kB)"
t_pass
