#!/usr/bin/env bash
# Assemble Flink distributions (FLINK_HOME folders) from the PyPI wheels/sdists.
# Why PyPI: it is the one registry reachable here that ships the full Flink binary distribution.
# Idempotent: a finished distribution has a .complete marker and is left alone; downloads are cached.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache/flink
DEST=$ROOT/.flink
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3
mkdir -p "$CACHE" "$DEST"

if ! command -v java >/dev/null 2>&1; then
  echo "java not found: Flink needs Java 17. On Debian/Ubuntu run (as root):" >&2
  echo "  apt-get update && apt-get install -y openjdk-17-jdk-headless" >&2
  exit 1
fi

download() { # download ARGS... into the cache unless a file matching $1 exists
  local pattern=$1; shift
  if ! ls "$CACHE"/$pattern >/dev/null 2>&1; then
    "$PY" -m pip download --no-deps -q -d "$CACHE" "$@" 2>&1 | grep -v "is ignored" || true
  fi
  ls "$CACHE"/$pattern >/dev/null 2>&1 || { echo "download failed: $*" >&2; exit 1; }
}

finish() { # finish HOME VERSION
  local home=$1 version=$2
  chmod +x "$home"/bin/*
  mkdir -p "$home/log"
  local out
  out=$(FLINK_CONF_DIR="$home/conf" "$home/bin/flink" --version 2>&1 | tail -n 1)
  case "$out" in
    *"Version: $version"*) echo "ok: $home ($out)"; touch "$home/.complete" ;;
    *) echo "verification failed for $home: $out" >&2; exit 1 ;;
  esac
}

install_23() {
  local v=2.3.0 home=$DEST/flink-2.3.0
  [ -f "$home/.complete" ] && { echo "ok: $home (cached)"; return; }
  download "apache_flink-$v-cp311*.whl" "apache-flink==$v" --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64
  download "apache_flink_libraries-$v-*.whl" "apache-flink-libraries==$v"
  local tmp; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
  rm -rf "$home"
  "$PY" - "$tmp" "$CACHE"/apache_flink-$v-cp311*.whl "$CACHE"/apache_flink_libraries-$v-*.whl <<'PYEOF'
import sys, zipfile
dest = sys.argv[1]
for whl in sys.argv[2:]:
    with zipfile.ZipFile(whl) as z:
        z.extractall(dest, [n for n in z.namelist() if n.startswith("pyflink/")])
PYEOF
  mkdir -p "$home"
  for d in bin conf lib opt plugins; do cp -r "$tmp/pyflink/$d" "$home/"; done
  finish "$home" "$v"
}

install_115() {
  local v=1.15.2 home=$DEST/flink-1.15.2
  [ -f "$home/.complete" ] && { echo "ok: $home (cached)"; return; }
  # No cp311 wheel exists for 1.15.2; the cp38 wheel carries bin/ and conf/ all the same.
  download "apache_flink-$v-cp38*.whl" "apache-flink==$v" --only-binary=:all: --python-version 3.8 --platform manylinux1_x86_64
  # The libraries come as an sdist whose deps/ folder holds lib/, opt/, plugins/ and bash-java-utils.jar.
  download "apache-flink-libraries-$v.tar.gz" "apache-flink-libraries==$v" --no-binary=:all:
  local tmp; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
  rm -rf "$home"
  "$PY" - "$tmp" "$CACHE"/apache_flink-$v-cp38*.whl <<'PYEOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[2]) as z:
    z.extractall(sys.argv[1], [n for n in z.namelist() if n.startswith("pyflink/")])
PYEOF
  tar -xzf "$CACHE/apache-flink-libraries-$v.tar.gz" -C "$tmp"
  local deps="$tmp/apache-flink-libraries-$v/deps"
  mkdir -p "$home"
  cp -r "$tmp/pyflink/bin" "$tmp/pyflink/conf" "$home/"
  for d in lib opt plugins; do cp -r "$deps/$d" "$home/"; done
  [ -f "$deps/bin/bash-java-utils.jar" ] && cp "$deps/bin/bash-java-utils.jar" "$home/bin/"
  finish "$home" "$v"
}

install_23
install_115
