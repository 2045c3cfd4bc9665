# Entry points: `make demo`, `make test`. Run `make` for the list.

.DEFAULT_GOAL := help
.PHONY: help demo test bench lint clean

ARGS ?=

help:
	@echo "django_taskflow"
	@echo ""
	@echo "  make demo    migrate, create an admin login, enqueue example tasks, run a worker and the dev server"
	@echo "  make test    ruff, migrations check, and the test suite on SQLite and PostgreSQL"
	@echo "               (pytest options: make test ARGS=\"-k retry -x\")"
	@echo "  make bench   benchmarks beside a raw-SQL baseline, medians of 3 runs"
	@echo "               (options: make bench ARGS=\"--quick\", ARGS=\"--db sqlite --only drain\")"
	@echo "  make lint    ruff check"
	@echo "  make clean   remove .venv and var/"

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
	rm -rf .venv var *.egg-info
