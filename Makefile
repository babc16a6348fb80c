# JewelRec: two commands do all the set-up on a fresh machine.
#   make run   - install, import the sample data, create a staff account, run web + worker + scheduler
#   make test  - install, then run the whole test suite (embedded; and on PostgreSQL + Redis when reachable)
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test install bench clean-var replay

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

install: $(VENV)/.installed

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py import_sample
	$(PY) manage.py ensure_staff
	$(PY) manage.py bootstrap_demo
	$(PY) manage.py runapp

test: install
	bash scripts/test.sh

# Demo traffic: the sample's last two days through the API, so Live & A/B shows real figures (~20 s).
replay: install
	$(PY) manage.py replay --customers 600

clean-var:
	rm -rf var
