# The two commands a new user needs (README): `make demo` and `make test`.
# Both set everything up first; a rerun with nothing changed reinstalls nothing.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# Holoscan (MONAI Deploy SDK) wants at least 32 MiB of stack for its threads.
RUN := ulimit -s 32768 2>/dev/null || true; PYTHONPATH=$(CURDIR) $(PY)
APT_PACKAGES := dcmtk orthanc dicom3tools openssl podman runc debootstrap tini
DEMO_DIR := demo

.PHONY: setup demo test bench lint format clean

setup: $(VENV)/.installed .apt-installed

.apt-installed:
	@if command -v storescu >/dev/null && command -v dciodvfy >/dev/null && command -v Orthanc >/dev/null && command -v podman >/dev/null && command -v debootstrap >/dev/null && command -v runc >/dev/null; then \
		echo "dcmtk, dicom3tools, Orthanc and podman present"; \
	else \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	fi
	@touch $@

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements-dev.txt -c constraints.txt
	@touch $@

# The demo study (simulated: T1, T1ce, T2, no FLAIR) is generated once, then the application synthesizes
# the FLAIR with the shipped model into demo/output (DICOM series, report.json, preview.png).
demo: setup $(DEMO_DIR)/study/manifest.json
	rm -rf $(DEMO_DIR)/output
	$(RUN) -m app -i $(DEMO_DIR)/study -o $(DEMO_DIR)/output
	@echo "results: $(DEMO_DIR)/output (report.json, preview.png, one folder per synthetic series)"

$(DEMO_DIR)/study/manifest.json:
	$(RUN) -m simulation study --out $(DEMO_DIR)/study --seed 7 --vendor siemens --contrasts t1,t1ce,t2

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup lint
	$(RUN) -m pytest

# Benchmarks (not timed tests): JSON + markdown tables into bench/results/.
bench: setup
	$(RUN) -m bench.ingest
	$(RUN) -m bench.latency
	$(RUN) -m bench.compute
	$(RUN) -m bench.scaling
	$(RUN) -m bench.queue
	$(RUN) -m bench.nodes
	$(RUN) -m bench.quality_speed

clean:
	rm -rf $(VENV) .apt-installed
