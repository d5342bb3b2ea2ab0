#!/usr/bin/env bash
# Idempotent machine set-up: system packages, cargo-pgrx, pgrx config, the test user.
# Runs as root with no stdin (CI, fresh machines). Safe to run repeatedly.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PGRX_VERSION=0.18.1
PG_MAJOR=15
RUN_USER=${MT_USER:-pgmt}
export PGRX_HOME=${PGRX_HOME:-/var/tmp/pg_mergetree/pgrx}

need_pkgs=()
# postgresql-15-partman: tests/system/t_tools.sh checks pg_partman creates mergetree partitions.
# postgresql-15-hll, -tdigest: pg_test/sql/engines.sql keeps their states in aggregating tables.
# libpostgresql-jdbc-java (pgjdbc, /usr/share/java/postgresql.jar): tests/system/t_drivers.sh,
# which runs its Java check as a single source file (`java File.java`: needs a JDK, not a JRE).
# xz-utils: tests/system/t_upgrade.sh unpacks the old version's cluster (tests/upgrade/).
for p in postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-$PG_MAJOR-partman postgresql-$PG_MAJOR-hll postgresql-$PG_MAJOR-tdigest libclang-dev clang sudo make pkg-config libpostgresql-jdbc-java xz-utils; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
command -v javac >/dev/null 2>&1 || need_pkgs+=(openjdk-17-jdk-headless)
if ((${#need_pkgs[@]})); then
  echo "setup: installing ${need_pkgs[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
# Debian's package starts a default cluster on 5432; we never use it, stop it so it holds no .so.
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters -h 2>/dev/null | awk '$4=="online"{print $1, $2}' | while read -r v c; do
    pg_ctlcluster "$v" "$c" stop || true
  done
fi

if ! cargo pgrx --version 2>/dev/null | grep -q "cargo-pgrx $PGRX_VERSION"; then
  echo "setup: installing cargo-pgrx $PGRX_VERSION (several minutes)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

id -u "$RUN_USER" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$RUN_USER"
mkdir -p "$PGRX_HOME"
chmod 755 /var/tmp/pg_mergetree
PGCFG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
if ! grep -qs "pg$PG_MAJOR = \"$PGCFG\"" "$PGRX_HOME/config.toml"; then
  cargo pgrx init --pg$PG_MAJOR "$PGCFG"
fi
chown -R "$RUN_USER" "$PGRX_HOME"

# Benchmark suite (benches/): psycopg 3 and tpchgen-cli (TPC-H data) in a virtualenv of their
# own, so neither the system Python nor a pyenv one is modified. Pinned: the TPC-H data must
# not change under the benchmark's feet. SQLAlchemy (2.1: the first to reflect table
# options) for tests/system/t_tools.sh; asyncpg for tests/system/t_drivers.sh.
BENCH_VENV=${BENCH_VENV:-/var/tmp/pg_mergetree/bench-venv}
TPCHGEN_VERSION=4.0.0
SQLALCHEMY_VERSION=2.1.9
ASYNCPG_VERSION=0.31.0
if ! "$BENCH_VENV/bin/python" -c 'import psycopg' >/dev/null 2>&1 \
  || ! "$BENCH_VENV/bin/python" -c "import sqlalchemy, sys; sys.exit(sqlalchemy.__version__ != '$SQLALCHEMY_VERSION')" >/dev/null 2>&1 \
  || ! "$BENCH_VENV/bin/tpchgen-cli" --version 2>/dev/null | grep -q " $TPCHGEN_VERSION\$"; then
  echo "setup: installing psycopg and tpchgen-cli $TPCHGEN_VERSION into $BENCH_VENV"
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -m venv --help >/dev/null 2>&1 \
    || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
  fi
  rm -rf "$BENCH_VENV"
  python3 -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/python" -m pip install -q --disable-pip-version-check \
    'psycopg[binary]>=3.1,<4' "tpchgen-cli==$TPCHGEN_VERSION" "sqlalchemy==$SQLALCHEMY_VERSION" \
    "asyncpg==$ASYNCPG_VERSION"
fi
# asyncpg added to a venv made before it was in the list above (without rebuilding the venv,
# which a benchmark may be using).
if ! "$BENCH_VENV/bin/python" -c "import asyncpg, sys; sys.exit(asyncpg.__version__ != '$ASYNCPG_VERSION')" >/dev/null 2>&1; then
  echo "setup: installing asyncpg $ASYNCPG_VERSION into $BENCH_VENV"
  "$BENCH_VENV/bin/python" -m pip install -q --disable-pip-version-check "asyncpg==$ASYNCPG_VERSION"
fi

# node-postgres (pg, with pg-copy-streams for COPY) for tests/system/t_drivers.sh, in a
# directory of its own (NODE_PATH=$NODE_DRIVERS/node_modules): Debian's node-pg depends on
# Debian's nodejs, which would replace the machine's Node.js 20, so it comes from the npm
# registry through the machine's npm. Pinned.
NODE_DRIVERS=${NODE_DRIVERS:-/var/tmp/pg_mergetree/node-drivers}
NODE_PG_VERSION=8.23.1
NODE_PG_COPY_STREAMS_VERSION=7.0.0
node_has() { # MODULE VERSION
  NODE_PATH=$NODE_DRIVERS/node_modules node -e "process.exit(require('$1/package.json').version === '$2' ? 0 : 1)" >/dev/null 2>&1
}
if ! node_has pg "$NODE_PG_VERSION" || ! node_has pg-copy-streams "$NODE_PG_COPY_STREAMS_VERSION"; then
  echo "setup: installing pg $NODE_PG_VERSION and pg-copy-streams $NODE_PG_COPY_STREAMS_VERSION into $NODE_DRIVERS"
  # A machine without Node.js gets Debian's (nodejs and npm together).
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "setup: installing nodejs and npm"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  mkdir -p "$NODE_DRIVERS"
  [[ -f $NODE_DRIVERS/package.json ]] || echo '{"private": true}' >"$NODE_DRIVERS/package.json"
  npm install --prefix "$NODE_DRIVERS" --no-audit --no-fund --omit=optional --loglevel=error \
    "pg@$NODE_PG_VERSION" "pg-copy-streams@$NODE_PG_COPY_STREAMS_VERSION" </dev/null >/dev/null
  chmod -R a+rX "$NODE_DRIVERS"
fi
echo "setup: ok"
