# GrooveBridge: `make run` sets up and opens the app, `make test` sets up and runs every check.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench soak serve screenshots clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	@scripts/system-deps.sh run
	$(VENV)/bin/groovebridge

serve: $(STAMP)
	$(VENV)/bin/groovebridge serve

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy models bridge gui

test: lint
	@scripts/system-deps.sh test
	QT_QPA_PLATFORM=offscreen scripts/with-midi-server.sh $(PY) -m pytest $(PYTEST_ARGS)

# Every benchmark except the long ones (soak: 30 min; OSC flood: 30 s per rate): `make soak`.
bench: $(STAMP)
	scripts/with-midi-server.sh sh -c 'for b in benchmarks/bench_*.py; do case $$b in *soak*|*flood*) continue;; esac; $(PY) $$b || exit 1; done'

soak: $(STAMP)
	scripts/with-midi-server.sh sh -c '$(PY) benchmarks/bench_osc_flood.py && $(PY) benchmarks/bench_soak.py'

screenshots: $(STAMP)
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) scripts/screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
