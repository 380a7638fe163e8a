# The two commands a person needs: `make run` and `make test`. Everything they need is installed by them.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
MANAGE := $(PY) manage.py

.PHONY: run test install install-dev messages assets lint bench soak bench-routing bench-phrases bench-robot lock clean

$(VENV)/.run-installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.run-installed
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $@

install: $(VENV)/.run-installed
install-dev: $(VENV)/.dev-installed

messages: install
	$(MANAGE) compiletranslations

## Front-end libraries from the npm registry, pinned in package.json and package-lock.json (no CDN): the
## report charts' ECharts, copied into reports' static dir (git-ignored).
ECHARTS := reports/static/reports/vendor/echarts.min.js
$(ECHARTS): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	mkdir -p $(dir $@) && cp node_modules/echarts/dist/echarts.min.js $@
assets: $(ECHARTS)

## Start everything (daphne, Celery worker, Celery beat, embedded Redis unless REDIS_URL) on :8000, as the
## demo: development settings (DEBUG=1) and the demo buyer picker on, unless the environment says otherwise.
run: export DEBUG ?= 1
run: export DEMO_BUYER_PICKER ?= 1
run: messages assets
	$(MANAGE) migrate --noinput
	$(MANAGE) seed_demo
	$(MANAGE) collectstatic --noinput -v 0
	$(MANAGE) runall

## The whole suite plus ruff, mypy and the import contract (the layers, pyproject.toml [tool.importlinter]).
test: install-dev messages assets
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@! grep -rnE --include='*.py' '# fmt: (skip|off)$$' backoffice routing phrases robot reports tests \
		|| { echo 'a "# fmt: skip" or "# fmt: off" needs its reason on the same line ("# fmt: skip  # why")'; exit 1; }
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

## Benchmarks (need DATABASE_URL pointing at PostgreSQL; the live-chat one also REDIS_URL); they print a table.
## Routing: BENCH_N, BENCH_K, BENCH_T. Live chat: BENCH_PAIRS, BENCH_MESSAGES (docstring of bench_livechat.py).
bench: install-dev
	$(BIN)/python -m pytest tests/bench/bench_*.py -s -q -p no:cacheprovider

## Phrase search latency with 5,000 phrases (SQLite, or PostgreSQL with DATABASE_URL); prints a table.
bench-phrases: install-dev
	$(BIN)/python -m pytest tests/bench/bench_phrases.py -s -q -p no:cacheprovider

bench-robot: install-dev
	$(BIN)/python -m pytest tests/bench/bench_robot.py -s -q -p no:cacheprovider

## The soak (issue 18, fault 8; ~10 minutes; DATABASE_URL=postgres://..., REDIS_URL): SOAK_SECONDS, SOAK_CYCLES.
soak: install-dev
	$(BIN)/python -m pytest tests/bench/soak_chat.py -s -q -p no:cacheprovider

## Re-pin every dependency after changing pyproject.toml.
lock:
	rm -rf /tmp/shopdesk-lock && $(PYTHON) -m venv /tmp/shopdesk-lock
	/tmp/shopdesk-lock/bin/pip install -q --upgrade "pip>=24" && /tmp/shopdesk-lock/bin/pip install -q -e ".[dev]"
	/tmp/shopdesk-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) var
