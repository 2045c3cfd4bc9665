# Entry points: `make demo`, `make test`. Run `make` for the list.

.DEFAULT_GOAL := help
.PHONY: help demo test bench lint clean

ARGS ?=

help:
	@echo "django_taskflow"
	@echo ""
	@echo "  make demo    migrate, create an admin login, enqueue example tasks, run a worker and the dev server"
	@echo "               (Ctrl-C stops both; another port: make demo TASKFLOW_DEMO_PORT=8001)"
	@echo "  make test    ruff, mypy, migrations check, and the test suite on SQLite and PostgreSQL"
	@echo "               (needs PostgreSQL on 127.0.0.1:5432, started if it is down and stopped after)"
	@echo "               (pytest options: make test ARGS=\"-k retry -x\", ARGS=\"-m 'not install'\")"
	@echo "  make bench   benchmarks beside a raw-SQL baseline, medians of 3 runs"
	@echo "               (options: make bench ARGS=\"--quick\", ARGS=\"--db sqlite --only drain\")"
	@echo "  make lint    ruff check"
	@echo "  make clean   remove .venv, var/, build/ and dist/"

demo:
	@bash scripts/demo.sh

test:
	@bash scripts/test.sh $(ARGS)

bench:
	@bash scripts/bootstrap.sh
	@bash scripts/services.sh
	.venv/bin/python benchmarks/run.py $(ARGS)

lint:
	@bash scripts/bootstrap.sh
	.venv/bin/ruff check .

clean:
	rm -rf .venv var build dist *.egg-info
