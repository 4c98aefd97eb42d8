# flink-k8s-airflow — every target is idempotent and installs what it needs.
SHELL := /bin/bash
PY := .venv/bin/python
UV := .venv/bin/uv
export PYTHONPATH := $(CURDIR)/plugins

.PHONY: install flink test lint demo bench clean kube-up kube-down kube-status kube-build system-deps airflow-up airflow-down airflow-status

install: .venv/.installed

.venv/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv .venv
	test -x $(UV) || $(PY) -m pip install -q uv
	$(UV) pip install -q --python $(PY) -r requirements-dev.txt
	# `python -m flink_k8s` from anywhere: put plugins/ on the venv's path (as Airflow does).
	$(PY) -c 'import site,sys; open(site.getsitepackages()[0]+"/flink_k8s_plugins.pth","w").write(sys.argv[1]+"\n")' $(CURDIR)/plugins
	touch $@

flink: install
	bash scripts/install_flink.sh

# ruff; the architecture contracts of pyproject.toml (import-linter: layers, core pure, clients below the
# control plane, DAG files on public names); types (mypy: core strict, the rest plain). Caches: .mypy_cache,
# .import_linter_cache.
lint: install
	.venv/bin/ruff check dags plugins tests bench scripts
	.venv/bin/lint-imports
	.venv/bin/mypy

# Java, the Pushgateway, the compose validator, iproute2 (apt-get as root; else the command to run).
system-deps:
	bash scripts/system_deps.sh

# The control plane binary (cold: ~7 min and ~3 GB RAM on 2 cores, once per machine; cached in ~/.cache).
kube-build: install
	$(PY) scripts/kube_local.py build

# Two pytest workers (pytest-xdist), one test file at a time each: most end-to-end time is spent waiting for
# JVMs, checkpoints and Airflow, so two files overlap well on 2 cores. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
test: system-deps install flink lint kube-build
	$(PY) -m pytest tests $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

demo: install flink kube-build
	$(PY) scripts/demo.py

# The local Kubernetes control plane (real etcd/apiserver/controller-manager/scheduler from
# tools/kube-local, built once per machine into ~/.cache) and the project's local kubelet; needs root.
kube-up: install flink kube-build
	$(PY) scripts/kube_local.py up

kube-down:
	test -x $(PY) && $(PY) scripts/kube_local.py down || true

kube-status: install
	$(PY) scripts/kube_local.py status

# Airflow as docker-compose.yaml deploys it, as local processes: PostgreSQL (Debian's, run as user postgres),
# api-server, scheduler, dag-processor, triggerer (LocalExecutor) on the local cluster; state in .airflow-local/.
airflow-up: install flink kube-up
	$(PY) scripts/airflow_local.py up

airflow-down:
	test -x $(PY) && $(PY) scripts/airflow_local.py down || true

airflow-status: install
	$(PY) scripts/airflow_local.py status

bench: install flink
	$(PY) -m bench $(BENCH_ARGS)

clean: airflow-down kube-down
	rm -rf .venv .flink .cache build .pytest_cache .ruff_cache .kube-local .airflow-local
