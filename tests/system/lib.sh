# shellcheck shell=bash
# Helpers for tests/system/t_*.sh. Source after `set -Eeuo pipefail`.
# Each test: t_setup; t_cluster NAME PORT; ...checks...; t_pass.
# On any failing command the test prints "not ok - NAME: ..." and exits 1; its clusters are
# always stopped on exit. The temp dir is removed on success and kept (logs shown) on failure.
# shellcheck source=../../scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

T_NAME=$(basename "$0" .sh)
# Clusters start without background merges (tests count parts); t_merges turns them on.
export MT_BACKGROUND_MERGES=${MT_BACKGROUND_MERGES:-off}
T_PID=$BASHPID
T_DIR=
T_CLUSTERS=()
T_REPORTED=

note() { echo "# $*"; }
fail() {
  [[ $BASHPID == "$T_PID" ]] || exit 1   # inside a subshell: let the parent report it
  T_REPORTED=1
  echo "not ok - $T_NAME: $*"
  exit 1
}
expect_eq() { # WHAT GOT WANT
  [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"
  note "$1: $2"
}

t_cleanup() {
  local rc=$? d
  [[ $BASHPID == "$T_PID" ]] || return 0
  for d in "${T_CLUSTERS[@]}"; do stop_cluster "$d" immediate >/dev/null 2>&1 || true; done
  if ((rc != 0)) && [[ -z $T_REPORTED ]]; then echo "not ok - $T_NAME: exited with status $rc"; fi
  [[ -n $T_DIR ]] || return 0
  if ((rc == 0)); then
    rm -rf "$T_DIR"
  else
    for d in "${T_CLUSTERS[@]}"; do
      echo "# --- last lines of $(cluster_log "$d"):"
      tail -n 15 "$(cluster_log "$d")" 2>/dev/null | sed 's/^/#   /' || true
    done
    echo "# files kept in $T_DIR"
  fi
}

t_setup() {
  trap 't_cleanup' EXIT
  trap 'exit 130' INT TERM
  trap 'fail "command failed (status $?) at line $LINENO: $BASH_COMMAND"' ERR
  ensure_user
  mkdir_owned "$MT_ROOT/systest"
  T_DIR=$(mktemp -d "$MT_ROOT/systest/$T_NAME.XXXXXX")
  chown "$MT_USER:" "$T_DIR"
  chmod 755 "$T_DIR"
  note "$T_NAME: table AM $MT_AM, files in $T_DIR"
}

port_free() { ! (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# t_cluster NAME PORT: init + start a cluster in $T_DIR/NAME, stopped again on exit.
t_cluster() {
  port_free "$2" || fail "port $2 is already in use"
  T_CLUSTERS+=("$T_DIR/$1")
  init_cluster "$T_DIR/$1" "$2" >/dev/null
  start_cluster "$T_DIR/$1" "$2" >/dev/null
}

# Every cluster's log must be free of server processes that died by a signal (a crash:
# backend crashes restart the server without changing the postmaster's start time, so
# only the log tells) and of PANICs. A test that kills processes itself with kill -9 sets
# T_ALLOW_SIGKILL=1 to allow signal 9 only.
t_check_logs() {
  local d logf bad
  for d in "${T_CLUSTERS[@]}"; do
    logf=$(cluster_log "$d")
    [[ -f $logf ]] || continue
    bad=$(grep -E 'terminated by signal|PANIC:|was terminated by exception' "$logf" \
      | { if [[ -n ${T_ALLOW_SIGKILL:-} ]]; then grep -v 'terminated by signal 9:'; else cat; fi; } || true)
    [[ -z $bad ]] || fail "server log $logf shows a crash: $(head -3 <<<"$bad")"
  done
}

t_pass() { t_check_logs; echo "ok - $T_NAME"; }

# wait_merged PORT DB TABLE MAX: bounded wait (120 s) until background merges leave TABLE
# at most MAX parts; fails otherwise. Prints the parts before and after.
wait_merged() {
  local count="SELECT count(*) FROM mergetree.parts WHERE table_name = '$3'::regclass" before i
  before=$(sql_at "$1" "$2" "$count")
  for ((i = 0; i < 600; i++)); do
    (($(sql_at "$1" "$2" "$count") <= $4)) && break
    sleep 0.2
  done
  if (($(sql_at "$1" "$2" "$count") > $4)); then
    # called in $(...): say it on stderr too, where the parent's report shows it
    echo "# background merges did not run: $3 has $(sql_at "$1" "$2" "$count") parts 120 s after $before" >&2
    fail "background merges did not run on $3"
  fi
  echo "$before parts -> $(sql_at "$1" "$2" "$count")"
}

# wait_pids_gone PID...: bounded wait until none of the processes exists any more.
wait_pids_gone() {
  local i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$@" 2>/dev/null || return 0   # kill -0 fails only when none of them exists
    sleep 0.2
  done
  fail "processes $* still alive 60s after kill -9"
}

# kill_cluster DATA: like a power cut, SIGKILL the cluster's postmaster and all its
# children at once (children setsid(), so the postmaster's process group does not reach
# them; they are listed by parent pid), and wait until they are gone. Tests that use it
# set T_ALLOW_SIGKILL=1.
kill_cluster() {
  local pm kids
  pm=$(head -n 1 "$1/postmaster.pid")
  kids=$(pgrep -P "$pm" | tr '\n' ' ')
  # shellcheck disable=SC2086
  kill -9 "$pm" $kids
  # shellcheck disable=SC2086
  wait_pids_gone "$pm" $kids
}
