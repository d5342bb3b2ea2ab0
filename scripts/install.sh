#!/usr/bin/env bash
# Builds the extension and installs it into the system PostgreSQL 15 by atomic rename:
# a server that already loaded the old library keeps its mapping instead of crashing
# (copying over the file in place, as `cargo pgrx install` does, makes it segfault).
#   scripts/install.sh [--release]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export PGRX_HOME=${PGRX_HOME:-/var/tmp/pg_mergetree/pgrx}
export USER=${USER:-root}
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
profile=(--debug); [[ ${1:-} == --release ]] && profile=()
out=$here/target/pgrx-package
rm -rf "$out"
log=$here/target/pgrx-package.log
mkdir -p "$here/target"
cargo pgrx package --pg-config "$PG_CONFIG" "${profile[@]}" --out-dir "$out" >"$log" 2>&1 || { tail -40 "$log"; exit 1; }
libdir=$("$PG_CONFIG" --pkglibdir)
sharedir=$("$PG_CONFIG" --sharedir)/extension
install -m 755 "$out$libdir/pg_mergetree.so" "$libdir/.pg_mergetree.so.new"
mv -f "$libdir/.pg_mergetree.so.new" "$libdir/pg_mergetree.so"
# Scripts of other versions left by an older install would install today's SQL under an
# old version's name: the extension's SQL files are replaced as a set.
rm -f "$sharedir"/pg_mergetree--*.sql
install -m 644 "$out$sharedir"/pg_mergetree* "$sharedir/"
install -m 644 sql/pg_mergetree--*--*.sql "$sharedir/"
echo "installed pg_mergetree ($([[ ${#profile[@]} -eq 0 ]] && echo release || echo debug)) into $libdir"
