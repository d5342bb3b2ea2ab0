#!/usr/bin/env bash
# Background merges never run another role's code: a database owner sets the database's
# search_path to put its own schema before pg_catalog, holding a "+" operator that would
# capture the table's TTL expression; the merge workers (running as the table's owner)
# must not resolve names through it. The owner's inserts, merges and TTL stay exact.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${T_WORKER_SECURITY_PORT:-$(free_port 25480)}
export MT_BACKGROUND_MERGES=on
t_setup
use_ext || { note "skipped: needs the extension"; t_pass; exit 0; }
t_cluster db "$PORT"
su() { sql_at "$PORT" trapdb "$1"; }

sql_at "$PORT" postgres "CREATE ROLE mt_mallory LOGIN; CREATE ROLE mt_alice LOGIN"
sql_at "$PORT" postgres "CREATE DATABASE trapdb OWNER mt_mallory"
su "CREATE EXTENSION pg_mergetree; GRANT CREATE ON SCHEMA public TO mt_alice"
# The database's owner prepares the trap: a "+" for timestamptz + interval that raises a
# warning naming the user it runs as, and says every row expired long ago.
psql_at "$PORT" -U mt_mallory -d trapdb -Atq <<'SQL'
CREATE SCHEMA trap;
GRANT USAGE ON SCHEMA trap TO PUBLIC;
CREATE FUNCTION trap.plus(timestamptz, interval) RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE
  AS $$ BEGIN RAISE WARNING 'trap ran as %', current_user; RETURN '1970-01-01'; END $$;
CREATE OPERATOR trap.+ (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = trap.plus);
SQL
# The owner makes the table before the database's path changes (the trap is not on its path).
psql_at "$PORT" -U mt_alice -d trapdb -Atq <<'SQL'
CREATE TABLE public.t (id int, ts timestamptz) USING mergetree
  WITH (order_by = 'id', ttl = 'ts + interval ''10 years''');
SQL
psql_at "$PORT" -U mt_mallory -d trapdb -Atq -c "ALTER DATABASE trapdb SET search_path = trap, pg_catalog, public"
expect_eq "the database's search_path" "$(psql_at "$PORT" -U mt_alice -d trapdb -Atq -c "SHOW search_path")" "trap, pg_catalog, public"
for ((k = 0; k < 30; k++)); do
  psql_at "$PORT" -U mt_alice -d trapdb -Atq -c "INSERT INTO public.t SELECT g, now() FROM generate_series($((k * 100 + 1)), $((k * 100 + 100))) g"
done
note "background merges: $(wait_merged "$PORT" trapdb public.t 3)"
expect_eq "rows after background merges" "$(su "SELECT count(*) || ' ' || sum(id) FROM public.t")" "3000 4501500"
# A merge the owner asks for, in a session whose path holds the trap, is as exact.
psql_at "$PORT" -U mt_alice -d trapdb -Atq -c "SELECT mergetree.optimize('public.t', final => true)" >/dev/null
expect_eq "rows after optimize" "$(su "SELECT count(*) FROM public.t")" 3000
trapped=$(grep -c "trap ran as" "$(cluster_log "$T_DIR/db")" || true)
expect_eq "trap runs in the server log" "$trapped" 0
t_pass
