# The two set-up commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install tools demo test lint bench soak clean ops-up ops-down ops-resume ops-pause ops-status

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/radar demo

# Tools some tests drive as real second clients: Chromium (the HTML digest), kcat (a librdkafka
# Kafka client) and PostgreSQL (the Prefect server's database in tests/test_ops_postgres.py; Debian
# keeps its binaries in /usr/lib/postgresql/<version>/bin, off PATH). A test that needs one fails
# without it (a skip proves nothing), so install them here when we can (root with apt-get, as in
# CI) and say exactly what is missing otherwise.
TOOLS := chromium kcat
tools:
	@missing=""; for t in $(TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing test tools:$$missing - install them (Debian: apt-get install$$missing)" >&2; exit 1; fi; \
	fi

# Two pytest-xdist workers, a file at a time; tests/conftest.py says which files go together and
# which test goes first (--no-loadscope-reorder keeps that order).
test: $(STAMP) tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q --durations=15 -n 2 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Crash soak (issue 9's figure): >= 20 crashes over all processor phases, 100,000 records, ~10 min.
soak: $(STAMP)
	$(BIN)/python bench/crash_soak.py --records 100000 --rounds 3

clean:
	rm -rf data out .pytest_cache

# Scheduled operation on this machine (README "Prefect deployments"): a Prefect server on 127.0.0.1,
# the work pool, every deployment of prefect.yaml, the embedded broker and a worker, all with
# RADAR_CONFIG set (required: export it or pass RADAR_CONFIG=...). Schedules stay paused until
# ops-resume. ops-down stops exactly what ops-up started (pids in <data_dir>/ops/ops.json).
# Each target is `radar ops <action>` (app/ops.py); `ops-status` exits 1 when ops is down.
ops-up: $(STAMP)
	$(BIN)/radar ops up

ops-down: $(STAMP)
	$(BIN)/radar ops down

ops-resume: $(STAMP)
	$(BIN)/radar ops resume

ops-pause: $(STAMP)
	$(BIN)/radar ops pause

ops-status: $(STAMP)
	$(BIN)/radar ops status
