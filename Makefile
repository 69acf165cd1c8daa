# The README's two commands: `make demo` and `make test`. Both create or reuse .venv and
# install everything from the package registries first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATASET ?= digits
# ARCH: empty for the dataset's dense MLP, else a conv preset or spec (e.g. ARCH=conv)
ARCH ?=
# METHOD: training method (bptt, lt, ltmd, tebn, ltmd+tebn; dense networks)
METHOD ?= bptt
RUN ?= runs/demo-$(DATASET)$(if $(ARCH),-$(ARCH))$(if $(filter-out bptt,$(METHOD)),-$(METHOD))

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,nir,nir-clients]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/spikesmith demo --dataset $(DATASET) $(if $(ARCH),--arch $(ARCH)) --method $(METHOD) \
		--run $(RUN)

test: $(STAMP)
	SPIKESMITH_REQUIRE_RTL=1 $(BIN)/python -m pytest -n 2 --dist loadfile --durations=15 tests

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build runs
