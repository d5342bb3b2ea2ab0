#!/usr/bin/env bash
# PostgreSQL's own regression suite (src/test/regress of Debian's postgresql-15 source
# package) for tests/pg_suite/run.sh. Idempotent; runs as root with no stdin.
#   1. a deb-src entry for the Debian suites (bookworm, -updates, -security), apt-get update
#      only when the wanted source version is not known yet
#   2. apt-get source --download-only postgresql-15=<installed version>, dpkg-source -x
#   2b. when the server is of another minor release than the suite, the checked-in patch
#      tests/pg_suite/patches/<suite>-server-<server>.patch applied to a copy of the suite
#   3. regress.so (src/test/regress/regress.c), autoinc.so and refint.so (contrib/spi) built
#      from that source against the installed server headers
# Everything lives under $MT_ROOT/pgsrc (default /var/tmp/pg_mergetree/pgsrc), readable by the
# cluster user (the server reads the suite's data files). Writes $MT_ROOT/pgsrc/suite.env:
#   PGSUITE_VERSION  source package version     PGSUITE_SRC     .../src/test/regress
#   PGSUITE_DLPATH   dir of regress.so & co     PGSUITE_REGRESS the pg_regress binary
# Env: PGSUITE_PG_VERSION forces a source version (default: the installed postgresql-15's).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PG_MAJOR=15
MT_ROOT=${MT_ROOT:-/var/tmp/pg_mergetree}
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
here=$(cd "$(dirname "$0")/.." && pwd)
CACHE=$MT_ROOT/pgsrc
SRC_LIST=/etc/apt/sources.list.d/pg_mergetree-deb-src.sources
umask 022

say() { echo "pgsuite_setup: $*" >&2; }
die() { say "error: $*"; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (apt-get, /etc/apt)"

# apt-get update/install, retried: another apt process may hold the lock for a while.
apt_retry() {
  local i
  for i in 1 2 3 4 5 6; do
    if "$@"; then return 0; fi
    say "'$*' failed (attempt $i), retrying in 20 s"
    sleep 20
  done
  return 1
}

need=()
for p in postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR dpkg-dev patch gcc libc6-dev make python3; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
  say "installing ${need[*]}"
  apt_retry apt-get update -qq
  apt_retry apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

installed=$(dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR")
want=${PGSUITE_PG_VERSION:-$installed}

served_versions() { apt-cache showsrc "postgresql-$PG_MAJOR" 2>/dev/null | awk '/^Version:/ {print $2}' | sort -uV; }

have_unpacked() { [[ -f $CACHE/src-$1/src/test/regress/parallel_schedule ]]; }

if ! have_unpacked "$want"; then
  # 1. deb-src. Debian images use deb822 files (debian.sources with "Types: deb"); ours is a
  # separate file so the image's own stays untouched.
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  entry="# Written by pg_mergetree's scripts/pgsuite_setup.sh: source packages for
# PostgreSQL's regression suite (tests/pg_suite).
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: $codename-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
  if ! served_versions | grep -qxF "$want"; then
    if [[ ! -f $SRC_LIST ]] || [[ $(cat "$SRC_LIST") != "$entry" ]]; then
      say "adding $SRC_LIST"
      printf '%s\n' "$entry" >"$SRC_LIST"
    fi
    say "apt-get update (source indexes)"
    apt_retry apt-get update -qq
  fi
fi

# 2. download (into a directory _apt can write, so apt's sandbox stays on) and unpack. The
# wanted version first; if the mirror does not serve it (the security archive lists sources
# it does not serve here: 404), the newest served version that downloads, with a warning.
download() { # VERSION -> 0 when $CACHE/dl/VERSION holds the .dsc and its files
  local v=$1 d=$CACHE/dl/$1
  mkdir -p "$d"
  chmod 755 "$CACHE" "$CACHE/dl"
  chown _apt: "$d" 2>/dev/null || true
  ls "$d"/*.dsc >/dev/null 2>&1 && return 0
  # A version that failed within the last day is not tried again (no network on every run).
  if [[ -n $(find "$CACHE/dl/$v.unavailable" -mmin -1440 2>/dev/null) ]]; then rm -rf "$d"; return 1; fi
  say "apt-get source --download-only postgresql-$PG_MAJOR=$v"
  if (cd "$d" && apt-get source -qq --download-only "postgresql-$PG_MAJOR=$v" >"$CACHE/dl/$v.log" 2>&1); then
    rm -f "$CACHE/dl/$v.unavailable" "$CACHE/dl/$v.log"
    return 0
  fi
  say "  failed: $(grep -m1 -E '^E:' "$CACHE/dl/$v.log" || tail -1 "$CACHE/dl/$v.log")"
  touch "$CACHE/dl/$v.unavailable"
  rm -rf "$d"
  return 1
}
if ! have_unpacked "$want"; then
  got=
  for v in "$want" $(served_versions | sort -rV | grep -vxF "$want"); do
    have_unpacked "$v" && { got=$v; break; }
    if download "$v"; then got=$v; break; fi
  done
  [[ -n $got ]] || die "could not download any postgresql-$PG_MAJOR source package"
  if [[ $got != "$want" ]]; then
    say "WARNING: source $want could not be downloaded; using $got (the installed server is"
    say "WARNING: $installed: expected outputs of another minor release may differ)"
    want=$got
  fi
fi
if ! have_unpacked "$want"; then
  dsc=$(ls "$CACHE/dl/$want"/*.dsc | head -1)
  tmp=$CACHE/src-$want.tmp.$$
  rm -rf "$tmp"
  say "dpkg-source -x $(basename "$dsc")"
  # apt checked the files' hashes against the signed Sources index; no keyring needed here.
  dpkg-source --no-check -x "$dsc" "$tmp" >/dev/null
  [[ -f $tmp/src/test/regress/parallel_schedule ]] || die "unpacked source has no src/test/regress/parallel_schedule"
  chmod -R a+rX "$tmp"
  rm -rf "$CACHE/src-$want"
  mv "$tmp" "$CACHE/src-$want"
fi
src=$CACHE/src-$want/src/test/regress

# 2b. A suite of another minor release than the server's (the security archive's sources are
# not served here): tests/pg_suite/patches/<suite>-server-<server>.patch, when there is one,
# brings its sql/ and expected/ files to the server's behaviour, in a copy of the suite.
upstream() { echo "${1%%-*}"; }
if [[ $(upstream "$want") != "$(upstream "$installed")" ]]; then
  patch=$here/tests/pg_suite/patches/$(upstream "$want")-server-$(upstream "$installed").patch
  if [[ -f $patch ]]; then
    suite=$CACHE/suite-$(upstream "$want")-server-$(upstream "$installed")
    pstamp="$want $(sha256sum <"$patch")"
    if [[ $(cat "$suite/.patch-stamp" 2>/dev/null) != "$pstamp" ]]; then
      say "applying $(basename "$patch")"
      rm -rf "$suite.tmp"
      cp -a "$src" "$suite.tmp"
      patch -p1 -s --no-backup-if-mismatch -d "$suite.tmp" <"$patch" || die "$(basename "$patch") does not apply"
      echo "$pstamp" >"$suite.tmp/.patch-stamp"
      chmod -R a+rX "$suite.tmp"
      rm -rf "$suite"
      mv "$suite.tmp" "$suite"
    fi
    src=$suite
  else
    say "WARNING: no tests/pg_suite/patches/$(basename "$patch"): tests whose behaviour changed"
    say "WARNING: between $(upstream "$want") and $(upstream "$installed") will show differences"
  fi
fi

# 3. regress.so, and autoinc.so and refint.so (contrib/spi; the triggers test loads them), from
# the suite's own source against the installed headers: plain gcc with pg_config's flags
# (Debian's PGXS would also want clang for LLVM bitcode). Rebuilt when the server or the
# source changes.
lib=$CACHE/lib-$want
spi=$CACHE/src-$want/contrib/spi
stamp="$("$PG_CONFIG" --version) / source $want / regress autoinc refint"
if [[ ! -f $lib/regress.so || ! -f $lib/refint.so || ! -f $lib/autoinc.so ]] \
  || [[ $(cat "$lib/stamp" 2>/dev/null) != "$stamp" ]]; then
  say "building regress.so, autoinc.so, refint.so"
  rm -rf "$lib"
  mkdir -p "$lib"
  read -ra cflags <<<"$("$PG_CONFIG" --cflags) $("$PG_CONFIG" --cflags_sl)"
  read -ra ldflags <<<"$("$PG_CONFIG" --ldflags_sl)"
  build() { # NAME SOURCE [CPPFLAGS...]
    local name=$1 c=$2
    shift 2
    gcc "${cflags[@]}" "$@" -I"$("$PG_CONFIG" --includedir-server)" -I"$("$PG_CONFIG" --includedir)" \
      -c "$c" -o "$lib/$name.o" || die "compiling $c failed"
    gcc -shared "${ldflags[@]}" -o "$lib/$name.so" "$lib/$name.o" || die "linking $name.so failed"
    rm -f "$lib/$name.o"
  }
  build regress "$src/regress.c"
  build autoinc "$spi/autoinc.c"
  build refint "$spi/refint.c" -DREFINT_VERBOSE # as contrib/spi/Makefile: the tests expect its NOTICEs
  echo "$stamp" >"$lib/stamp"
fi
chmod -R a+rX "$lib"

pg_regress=$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress
pg_regress=$(realpath "$pg_regress")
[[ -x $pg_regress ]] || die "pg_regress not found at $pg_regress (postgresql-server-dev-$PG_MAJOR)"

{
  echo "PGSUITE_VERSION=$want"
  echo "PGSUITE_INSTALLED=$installed"
  echo "PGSUITE_SRC=$src"
  echo "PGSUITE_DLPATH=$lib"
  echo "PGSUITE_REGRESS=$pg_regress"
} >"$CACHE/suite.env.tmp"
mv "$CACHE/suite.env.tmp" "$CACHE/suite.env"
say "ok: postgresql-$PG_MAJOR $want suite in $src"
