# pg_mergetree: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
export PGRX_HOME ?= /var/tmp/pg_mergetree/pgrx
export USER ?= root
PG_CONFIG := /usr/lib/postgresql/15/bin/pg_config
DEMO_ROWS ?= 1000000

.PHONY: setup install demo stop test test-unit test-pg test-regress test-system clean

setup:
	bash scripts/setup.sh

## install: release build into the system PostgreSQL 15 (stops the demo cluster first:
## replacing the .so under a running server crashes it)
install: setup
	bash scripts/cluster.sh stop
	cargo pgrx install --release --pg-config $(PG_CONFIG)

## demo: everything from a fresh machine to a running cluster with example data
demo: install
	DEMO_ROWS=$(DEMO_ROWS) bash scripts/demo.sh

stop:
	bash scripts/cluster.sh stop

## test: every test: engine unit/property tests, #[pg_test], SQL regression, system tests
test: setup
	bash scripts/test.sh

clean:
	cargo clean
