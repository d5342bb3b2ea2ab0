#!/usr/bin/env bash
# Private demo cluster: scripts/cluster.sh {start|stop|restart|status|psql [ARGS...]}
# Env: MT_PORT (5499), MT_DATA (/var/tmp/pg_mergetree/demo/data), MT_USER (pgmt),
#      MT_AM=heap to run plain PostgreSQL without preloading pg_mergetree.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=${MT_PORT:-5499}
DATA=${MT_DATA:-$MT_ROOT/demo/data}

case ${1:-} in
  start)
    init_cluster "$DATA" "$PORT"
    if is_running "$DATA"; then
      # Settings may have changed (e.g. MT_AM): reload, and restart if one needs a restart.
      as_pg pg_ctl reload -D "$(abspath "$DATA")" >/dev/null
      sleep 0.5
      if [[ $(sql_at "$PORT" postgres "SELECT count(*) FROM pg_settings WHERE pending_restart" || echo 0) != 0 ]]; then
        log "settings changed, restarting"
        stop_cluster "$DATA" fast
      fi
    fi
    start_cluster "$DATA" "$PORT"
    echo "connect with: psql -h 127.0.0.1 -p $PORT -U postgres"
    ;;
  stop) stop_cluster "$DATA" fast ;;
  restart)
    stop_cluster "$DATA" fast
    init_cluster "$DATA" "$PORT"
    start_cluster "$DATA" "$PORT"
    ;;
  status)
    if is_running "$DATA"; then echo "running: $DATA on 127.0.0.1:$PORT"
    else echo "not running: $DATA"; exit 3; fi
    ;;
  psql)
    shift
    exec psql -h 127.0.0.1 -p "$PORT" -U postgres "$@"
    ;;
  *)
    echo "usage: $0 {start|stop|restart|status|psql [ARGS...]}" >&2
    exit 2
    ;;
esac
