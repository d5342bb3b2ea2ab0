#!/usr/bin/env bash
# A bulk load's memory stays bounded by mergetree.insert_buffer_size, whatever its size:
# COPY 3M rows (~300 MB of text) with a 16 MB buffer; the loading backend's peak resident
# memory (VmHWM) must stay far below the data's size, and the rows must all be there.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${T_MEMORY_PORT:-$(free_port 25450)}
ROWS=${T_MEMORY_ROWS:-3000000}
t_setup
t_cluster db "$PORT"
q() { sql_at "$PORT" postgres "$1"; }
ext=$(ext_sql)
[[ -z $ext ]] || q "$ext"
q "CREATE TABLE t (id bigint, payload text) $(am_clause "order_by = 'id'")"
peak_kb=$(psql_at "$PORT" -d postgres -qAt <<SQL
SET mergetree.insert_buffer_size = '16MB';
COPY t FROM PROGRAM 'seq 1 $ROWS | awk ''{ printf "%d\\t%s-%s-%s\\n", \$1, \$1, "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz", \$1 * 7 }''';
-- Peak resident size minus the shared buffers this backend has touched (RssShmem).
SELECT (regexp_match(s, 'VmHWM:\\s+(\\d+)'))[1]::bigint - (regexp_match(s, 'RssShmem:\\s+(\\d+)'))[1]::bigint
FROM pg_read_file('/proc/' || pg_backend_pid() || '/status') s;
SQL
)
note "peak private memory of the loading backend: ${peak_kb} kB"
expect_eq "rows loaded" "$(q "SELECT count(*) FROM t")" "$ROWS"
data_kb=$(q "SELECT (sum(length(payload) + 8) / 1024)::bigint FROM t")
note "data loaded: ${data_kb} kB"
# The buffer, the sorted copy and the encoded part of it, and the server's own memory.
((peak_kb < 150000)) || fail "peak memory ${peak_kb} kB is not bounded by the 16 MB buffer"
((peak_kb * 2 < data_kb)) || fail "peak memory ${peak_kb} kB exceeds the data size ${data_kb} kB"
t_pass
