#!/usr/bin/env bash
# What the tests need from the system, installed with apt-get when root (as CI runs); otherwise the exact
# command to run. Go (>= 1.26, for tools/kube-local) is not installed here: Debian's is too old.
set -euo pipefail
need=()
command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v prometheus-pushgateway >/dev/null 2>&1 || [ -x /usr/bin/prometheus-pushgateway ] || need+=(prometheus-pushgateway)
{ docker compose version || docker-compose version; } >/dev/null 2>&1 || need+=(docker-compose)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
[ -x /usr/bin/chromium ] || need+=(chromium)  # the Flink page's browser test (Playwright drives it; no download)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)  # the deployed Airflow's metadata DB (make airflow-up)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  else
    echo "missing system packages: ${need[*]}" >&2
    echo "run: sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
    exit 1
  fi
fi
if ! command -v go >/dev/null 2>&1; then
  echo "missing: go >= 1.26 (builds the local Kubernetes control plane, tools/kube-local); install it from go.dev" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "the local Kubernetes node needs root (network namespaces, a bridge): run make test as root" >&2
  exit 1
fi
