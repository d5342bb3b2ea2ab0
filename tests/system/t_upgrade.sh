#!/usr/bin/env bash
# Upgrades keep users' data: a cluster written by the build of 0.1.0 (the checked-in fixture,
# tests/upgrade/) starts under today's build, refuses mergetree reads with a hint until
# ALTER EXTENSION pg_mergetree UPDATE, then has exactly the objects a new CREATE EXTENSION
# makes, reads every table equal to its heap twin, verifies clean and takes writes, deletes
# and merges; pg_upgrade of that cluster to a new one keeps it all.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${T_UPGRADE_PORT:-$(free_port 25620)}
NEW_PORT=$((PORT + 1))
FIXTURE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../upgrade" && pwd)/fixture-9f07cba.tar.xz
t_setup
use_ext || { note "skipped: needs the extension"; t_pass; exit 0; }
tar -C "$T_DIR" -xJf "$FIXTURE"
mv "$T_DIR/data" "$T_DIR/old" && chown -R "$MT_USER:" "$T_DIR/old"
t_cluster old "$PORT"    # keeps the fixture's data dir, writes port and preload settings
q() { sql_at "$PORT" "${2:-postgres}" "$1"; }
expect_eq "extension version written by the old build" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'pg_mergetree'")" 0.1.0

# Before the update: a clear error naming what to do, never a crash or wrong rows.
err=$(q "SELECT count(*) FROM typed" 2>&1 || true)
[[ $err == *"extension in this database is version 0.1.0"*"ALTER EXTENSION pg_mergetree UPDATE"* ]] || fail "reading before the update: $err"
note "before the update: $(head -1 <<<"$err")"

q "ALTER EXTENSION pg_mergetree UPDATE"
expect_eq "extension version after the update" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'pg_mergetree'")" \
  "$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$(pg_config --sharedir)/extension/pg_mergetree.control")"

# The updated extension is the one CREATE EXTENSION makes: same member objects, definitions,
# columns, indexes, privileges and comments.
q "CREATE DATABASE fresh"
q "CREATE EXTENSION pg_mergetree" fresh
SCHEMA_SQL="
SELECT pg_describe_object(d.classid, d.objid, 0) || ' | ' ||
       coalesce(CASE d.classid
         WHEN 'pg_proc'::regclass THEN (SELECT pg_get_function_identity_arguments(p.oid) || ' -> ' || pg_get_function_result(p.oid)
                                               || ' ' || p.prosrc || ' ' || p.provolatile::text || p.proparallel::text || p.proisstrict::text
                                               || ' ' || coalesce(p.proacl::text, '') || ' ' || coalesce(p.proconfig::text, '')
                                        FROM pg_proc p WHERE p.oid = d.objid)
         WHEN 'pg_class'::regclass THEN (SELECT c.relkind::text || ' ' || coalesce(c.relacl::text, '') || ' ' ||
                                               coalesce(pg_get_viewdef(c.oid), '') || ' ' ||
                                               (SELECT coalesce(string_agg(a.attnum || ':' || a.attname || ':' || format_type(a.atttypid, a.atttypmod)
                                                                  || ':' || a.attnotnull, ',' ORDER BY a.attnum), '')
                                                FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) || ' ' ||
                                               (SELECT coalesce(string_agg(pg_get_indexdef(i.indexrelid), ',' ORDER BY 1), '')
                                                FROM pg_index i WHERE i.indrelid = c.oid)
                                        FROM pg_class c WHERE c.oid = d.objid)
         END, '') || ' | ' || coalesce(obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)), '')
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_mergetree') AND d.deptype = 'e'
ORDER BY 1"
q "$SCHEMA_SQL" >"$T_DIR/schema.updated"
q "$SCHEMA_SQL" fresh >"$T_DIR/schema.fresh"
diff -u "$T_DIR/schema.fresh" "$T_DIR/schema.updated" >"$T_DIR/schema.diff" \
  || fail "the updated extension differs from a new one: $(head -c 3000 "$T_DIR/schema.diff")"
note "extension objects after the update equal a new install's: $(wc -l <"$T_DIR/schema.fresh")"
# Dropped columns would leave holes the catalog code (reading columns by position) trips on.
expect_eq "dropped catalog columns" "$(q "SELECT count(*) FROM pg_attribute WHERE attrelid::regclass::text LIKE 'mergetree.%' AND attisdropped")" 0

# Every table reads back equal to its heap twin, through the scan and the aggregation node.
same() { # PORT TABLE TWIN WHAT
  local a b
  a=$(sql_at "$1" postgres "SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM $2 t")
  b=$(sql_at "$1" postgres "SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM $3 t")
  [[ $a == "$b" ]] || fail "$4: $2 ($a) differs from $3 ($b)"
}
AGGS=(
  "SELECT date_trunc('month', ts), count(*), count(i2), sum(i4), min(f8), max(t), count(DISTINCT vc), sum(n), avg(n), bool_or(b), max(tz) FROM %s GROUP BY 1 ORDER BY 1"
  "SELECT t, count(*), min(u::text), max(d), sum(i2) FROM %s WHERE id % 3 = 0 GROUP BY t ORDER BY t NULLS FIRST"
  "SELECT doc::json ->> 'country', count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY id) FROM %s GROUP BY 1 ORDER BY 1 NULLS FIRST"
)
check_all() { # PORT WHAT
  local t q a b k=0
  for t in typed plain empty parted; do
    same "$1" "$t" "${t}_heap" "$2"
  done
  same "$1" parted_eu "(SELECT * FROM parted_heap WHERE region = 'eu')" "$2"
  for q in "${AGGS[@]}"; do
    k=$((k + 1))
    a=$(sql_at "$1" postgres "${q//%s/typed}")
    b=$(sql_at "$1" postgres "${q//%s/typed_heap}")
    [[ -n $a && $a == "$b" ]] || fail "$2: aggregate $k differs from heap"
  done
  for t in typed plain empty parted_eu parted_us; do
    [[ $(sql_at "$1" postgres "SELECT count(*) FROM mergetree.verify('$t')") == 0 ]] || fail "$2: verify of $t: $(sql_at "$1" postgres "SELECT * FROM mergetree.verify('$t')")"
  done
  note "$2: 5 tables equal to heap, ${#AGGS[@]} aggregates equal, verify clean"
}
check_all "$PORT" "after the update"
q "EXPLAIN (COSTS OFF) ${AGGS[0]//%s/typed}" | grep -q MergeTreeAgg || fail "the node does not plan over an old table"
expect_eq "old parts keep their names" "$(q "SELECT count(*) FROM mergetree.parts WHERE part_name = partition_id || '_' || min_block || '_' || max_block || '_' || level")" \
  "$(q "SELECT count(*) FROM mergetree.parts")"

# Writes, deletes, updates and merges on the old tables, mirrored on the twins.
for tw in typed typed_heap; do
  q "INSERT INTO $tw SELECT id + 100000, i2, i4, f4, f8, n, nf, t, vc, b, d, ts + interval '1 year', tz, u, by, doc FROM typed_heap WHERE id % 4 = 0"
  q "DELETE FROM $tw WHERE id % 10 = 3"
  q "UPDATE $tw SET t = 'updated', n = n + 1 WHERE id % 10 = 5"
done
for tw in plain plain_heap; do q "INSERT INTO $tw VALUES ('new', 1), (NULL, NULL)"; q "DELETE FROM $tw WHERE v % 5 = 0"; done
for tw in empty empty_heap; do q "INSERT INTO $tw VALUES (1, 'one'), (2, NULL)"; done
q "INSERT INTO parted VALUES ('eu', -1, 1.5), ('us', -2, 2.5)"
q "INSERT INTO parted_heap VALUES ('eu', -1, 1.5), ('us', -2, 2.5)"
check_all "$PORT" "after writes, deletes and updates"
for t in typed plain empty parted_eu parted_us; do q "SELECT mergetree.optimize('$t', final => true)" >/dev/null; done
check_all "$PORT" "after merges"
expect_eq "merged parts of typed (one per month)" "$(q "SELECT count(*) FROM mergetree.parts WHERE table_name = 'typed'::regclass")" \
  "$(q "SELECT count(DISTINCT date_trunc('month', ts)) FROM typed_heap")"

# pg_upgrade of the cluster to a new one (same major version: the binary-upgrade dump and
# restore of every mergetree object, data files copied).
note "pg_upgrade"
t_cluster new "$NEW_PORT"
stop_cluster "$T_DIR/new" >/dev/null
stop_cluster "$T_DIR/old" >/dev/null
mkdir -p "$T_DIR/upgrade-work" && chown "$MT_USER:" "$T_DIR/upgrade-work"
bindir=$(pg_config --bindir)
(cd "$T_DIR/upgrade-work" && runuser -u "$MT_USER" -- "$bindir/pg_upgrade" -U postgres \
   -b "$bindir" -B "$bindir" -d "$T_DIR/old" -D "$T_DIR/new" -p "$((NEW_PORT + 1))" -P "$((NEW_PORT + 2))" \
   >"$T_DIR/pg_upgrade.log" 2>&1) || fail "pg_upgrade failed: $(tail -20 "$T_DIR/pg_upgrade.log")"
start_cluster "$T_DIR/new" "$NEW_PORT" >/dev/null
expect_eq "extension version after pg_upgrade" "$(sql_at "$NEW_PORT" postgres "SELECT extversion FROM pg_extension WHERE extname = 'pg_mergetree'")" \
  "$(sql_at "$NEW_PORT" postgres "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_mergetree'")"
check_all "$NEW_PORT" "after pg_upgrade"
for tw in typed typed_heap; do sql_at "$NEW_PORT" postgres "INSERT INTO $tw SELECT id + 200000, i2, i4, f4, f8, n, nf, t, vc, b, d, ts, tz, u, by, doc FROM typed_heap WHERE id < 500"; done
sql_at "$NEW_PORT" postgres "SELECT mergetree.optimize('typed', final => true)" >/dev/null
check_all "$NEW_PORT" "after writes and merges on the upgraded cluster"
t_pass
