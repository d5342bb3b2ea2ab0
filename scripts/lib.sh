# shellcheck shell=bash
# Shared helpers for private PostgreSQL 15 clusters. Source it: `. scripts/lib.sh`.
#
# Clusters run as $MT_USER (postgres refuses root), listen on 127.0.0.1 only, keep their unix
# socket in a private directory next to the data dir (<parent>/sock), log to <parent>/<name>.log,
# and preload pg_mergetree unless MT_AM=heap (plain-PostgreSQL mode used to test the scripts).
#
#   init_cluster DATA PORT     initdb if needed, then (re)write our settings (idempotent)
#   start_cluster DATA PORT    start unless already running
#   stop_cluster DATA [MODE]   stop if running (MODE: fast (default) | immediate | smart)
#   is_running DATA            true if a postmaster serves DATA
#   psql_at PORT ARGS...       psql as superuser postgres on 127.0.0.1:PORT, stops on error
#   sql_at PORT DB SQL         run SQL, print unaligned tuples only (for scalar results)
#   am_clause OPTS [HEAP_OPTS] "USING mergetree WITH (OPTS)"; with MT_AM=heap "USING heap [WITH (HEAP_OPTS)]"
#   ext_sql                    "CREATE EXTENSION IF NOT EXISTS pg_mergetree;" (empty with MT_AM=heap)

MT_USER=${MT_USER:-pgmt}
# Servers start without RUST_BACKTRACE: a backtrace in every error DETAIL is noise for users.
unset RUST_BACKTRACE
MT_AM=${MT_AM:-mergetree}
MT_ROOT=${MT_ROOT:-/var/tmp/pg_mergetree}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PATH="$PG_BIN:$PATH" PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}
case $MT_AM in mergetree | heap) ;; *) echo "MT_AM must be 'mergetree' or 'heap', not '$MT_AM'" >&2; exit 2 ;; esac

die() { echo "error: $*" >&2; exit 1; }
log() { echo "==> $*"; }
pg_bin() { echo "$PG_BIN/$1"; }
use_ext() { [[ $MT_AM != heap ]]; }
ext_sql() { if use_ext; then echo "CREATE EXTENSION IF NOT EXISTS pg_mergetree;"; fi; }
am_clause() {
  if use_ext; then echo "USING mergetree WITH ($1)"
  elif [[ -n ${2:-} ]]; then echo "USING heap WITH ($2)"
  else echo "USING heap"; fi
}

# Run a command as the cluster owner, from / so it never trips over an unreadable cwd.
as_pg() { (cd / && runuser -u "$MT_USER" -- "$@"); }

ensure_user() {
  id -u "$MT_USER" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$MT_USER"
}

# mkdir -p, but every directory it creates is owned by $MT_USER.
mkdir_owned() {
  local d=$1
  [[ -d $d ]] && return 0
  mkdir_owned "$(dirname "$d")"
  mkdir -m 755 "$d"
  chown "$MT_USER:" "$d"
}

abspath() { realpath -m "$1"; }
cluster_home() { dirname "$(abspath "$1")"; }          # parent of DATA: holds log and sockets
cluster_log() { echo "$(cluster_home "$1")/$(basename "$(abspath "$1")").log"; }
cluster_sock() { echo "$(cluster_home "$1")/sock"; }

check_ext_installed() {
  local lib
  lib="$(pg_config --pkglibdir)/pg_mergetree.so"
  use_ext || return 0
  [[ -f $lib ]] || die "$lib not found: install the extension first (make install), or set MT_AM=heap"
}

init_cluster() {
  local data port home sock conf
  data=$(abspath "$1"); port=$2; home=$(cluster_home "$data"); sock=$(cluster_sock "$data")
  check_ext_installed
  ensure_user
  mkdir_owned "$home"
  as_pg test -w "$home" || die "$home must be writable by $MT_USER"
  if [[ ! -f $data/PG_VERSION ]]; then
    log "initdb $data"
    mkdir -p "$data" && chown "$MT_USER:" "$data" && chmod 700 "$data"
    as_pg initdb -D "$data" --locale=C --encoding=UTF8 --auth=trust --username=postgres >"$data.initdb.log" 2>&1 \
      || { cat "$data.initdb.log" >&2; die "initdb failed"; }
  fi
  mkdir -p "$sock" && chown "$MT_USER:" "$sock" && chmod 700 "$sock"
  conf=$data/postgresql.conf
  # Our settings live in one marked block at the end (last setting wins); rewrite it each time.
  as_pg sed -i '/^# >>> pg_mergetree/,/^# <<< pg_mergetree/d' "$conf"
  {
    echo "# >>> pg_mergetree settings (rewritten by scripts/lib.sh)"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$sock'"
    if use_ext; then
      echo "shared_preload_libraries = 'pg_mergetree'"
      # Tests that count parts turn background merges off (MT_BACKGROUND_MERGES=off).
      echo "mergetree.background_merges = ${MT_BACKGROUND_MERGES:-on}"
    fi
    echo "wal_level = replica"
    echo "max_wal_senders = 4"
    echo "# <<< pg_mergetree"
  } | as_pg tee -a "$conf" >/dev/null
  if ! grep -Eq '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$data/pg_hba.conf"; then
    echo "host replication all 127.0.0.1/32 trust" | as_pg tee -a "$data/pg_hba.conf" >/dev/null
  fi
}

is_running() { as_pg pg_ctl status -D "$(abspath "$1")" >/dev/null 2>&1; }

start_cluster() {
  local data port logf
  data=$(abspath "$1"); port=$2; logf=$(cluster_log "$data")
  if is_running "$data"; then
    log "cluster $data already running (port $port)"
    return 0
  fi
  check_ext_installed
  log "starting cluster $data on 127.0.0.1:$port (log: $logf)"
  if ! as_pg pg_ctl start -w -t 120 -D "$data" -l "$logf" >/dev/null; then
    tail -n 20 "$logf" >&2 || true
    die "could not start cluster $data"
  fi
}

stop_cluster() {
  local data mode
  data=$(abspath "$1"); mode=${2:-fast}
  if ! is_running "$data"; then
    log "cluster $data is not running"
    return 0
  fi
  log "stopping cluster $data ($mode)"
  as_pg pg_ctl stop -w -t 120 -D "$data" -m "$mode" >/dev/null
}

# Wait (bounded) until the server on PORT accepts connections.
wait_ready() {
  local port=$1 timeout=${2:-60} i
  for ((i = 0; i < timeout * 5; i++)); do
    pg_isready -q -h 127.0.0.1 -p "$port" && return 0
    sleep 0.2
  done
  return 1
}

psql_at() { local port=$1; shift; psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"; }
sql_at() { psql_at "$1" -d "$2" -Atq -c "$3"; }

# free_port BASE: the first port from BASE up with BASE and BASE+1 both free on 127.0.0.1
# (tests and tools start their own clusters; a fixed port may be briefly taken). Free
# means a server could bind it now: a client connection in TIME_WAIT on that local port
# blocks a server too, so test ports sit below the kernel's ephemeral range (32768 up).
port_bindable() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
PY
}
free_port() {
  local p=$1
  while ! port_bindable "$p" || ! port_bindable "$((p + 1))"; do
    p=$((p + 2))
  done
  echo "$p"
}
