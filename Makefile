# pg_mergetree: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
export PGRX_HOME ?= /var/tmp/pg_mergetree/pgrx
export USER ?= root
PG_CONFIG := /usr/lib/postgresql/15/bin/pg_config
DEMO_ROWS ?= 1000000
# make bench: events rows, TPC-H scale factor, timed runs per query, workloads, where the
# generated data (cached by parameters) and results/ go; BENCH_ARGS: more benches/run.py flags
EVENTS_ROWS ?= 1000000
TPCH_SF ?= 1
RUNS ?= 5
WORKLOADS ?= events,tpch
BENCH_DATA ?= /var/tmp/pg_mergetree/bench-data
BENCH_ARGS ?=
# make bench: single-row INSERT transactions from 8 clients (pgbench), seconds per system
SMALL_INSERT_SECONDS ?= 60
BENCH_PYTHON ?= /var/tmp/pg_mergetree/bench-venv/bin/python

.PHONY: setup install demo bench stop test test-unit test-pg test-regress test-system test-pg-suite clean

setup:
	bash scripts/setup.sh

## install: release build into the system PostgreSQL 15 (atomic rename: running servers keep
## the library they loaded; the demo cluster is stopped so its next start loads the new one)
install: setup
	bash scripts/cluster.sh stop
	bash scripts/install.sh --release

## demo: everything from a fresh machine to a running cluster with example data
demo: install
	DEMO_ROWS=$(DEMO_ROWS) bash scripts/demo.sh

## bench: release build + install, the demo's private cluster (MT_PORT, MT_DATA), then the
## benchmark suite (benches/run.py): heap and mergetree side by side, results checked equal
bench: install
	bash scripts/cluster.sh start
	$(BENCH_PYTHON) benches/run.py --port $${MT_PORT:-5499} --events-rows $(EVENTS_ROWS) \
	  --tpch-sf $(TPCH_SF) --runs $(RUNS) --workloads $(WORKLOADS) --bench-data $(BENCH_DATA) $(BENCH_ARGS)
	$(BENCH_PYTHON) benches/small_inserts.py --port $${MT_PORT:-5499} --seconds $(SMALL_INSERT_SECONDS) \
	  --results $(BENCH_DATA)/results

stop:
	bash scripts/cluster.sh stop

## test: every test: engine unit/property tests, #[pg_test], SQL regression, system tests
test: setup
	bash scripts/test.sh

## test-pg-suite: PostgreSQL 15's own regression suite, whole parallel_schedule, on a cluster
## whose tables are all mergetree tables (tests/pg_suite/run.sh; `make test` runs a subset).
## Fails on a crash or a difference not in tests/pg_suite/accepted.diffs;
## PG_SUITE_ARGS=--accept rewrites that file from the run. MT_AM=heap: plain PostgreSQL.
PG_SUITE_ARGS ?=
test-pg-suite: install
	PG_SUITE=full bash tests/pg_suite/run.sh $(PG_SUITE_ARGS)

clean:
	cargo clean
