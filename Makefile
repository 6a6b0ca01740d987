# The two commands: `make run` (a working shop with demo data) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
SIM_PORT ?= 8700

.PHONY: run test install services lint schema bench worker beat clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

run: install
	PORT=$(PORT) SIM_PORT=$(SIM_PORT) bash scripts/run.sh

services:
	bash scripts/ensure_services.sh

test: install services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

bench: install services
	bash bench/run_all.sh

worker: install
	$(VENV)/bin/celery -A mall worker -l info

beat: install
	$(VENV)/bin/celery -A mall beat -l info

clean:  # also the embedded PostgreSQL's data (.pgdata), stopped first
	if [ -x $(PY) ]; then $(PY) -m mall.embedded_postgres stop || true; fi
	rm -rf $(VENV) .pgdata media staticfiles
