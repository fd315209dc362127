# Two commands a newcomer needs: `make demo` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint format bench bench-triggers bench-broadcasts chaos snapshots browser rabbitmq clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Ladder needs Python 3.11 or newer (found: $$($(PYTHON) --version))."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || \
	  { echo "Could not create $(VENV): on Debian/Ubuntu run 'apt-get install python3-venv'."; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e . --group dev
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ladder demo

# One pytest-xdist worker per core, at most four (each starts its own private servers); an
# idle worker takes tests queued for a busy one, so the few long scenarios do not hold the end.
test: $(STAMP) browser rabbitmq
	$(BIN)/pytest -n auto --maxprocesses 4 --dist worksteal

# The studio's end-to-end test drives Debian's Chromium, and compares a screenshot drawn with
# these fonts; as root, install what is missing.
BROWSER_PACKAGES := chromium chromium-driver fonts-liberation fonts-dejavu-core
# Wait up to five minutes for a dpkg/apt lock another apt (unattended-upgrades, a second
# `make test`) holds, instead of failing at once.
APT_WAIT := -o DPkg::Lock::Timeout=300
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver \
	  -a -d /usr/share/fonts/truetype/liberation -a -d /usr/share/fonts/truetype/dejavu || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing $(BROWSER_PACKAGES) for the browser test…"; \
	    apt-get $(APT_WAIT) update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get $(APT_WAIT) install -y -qq $(BROWSER_PACKAGES) >/dev/null; \
	  else \
	    echo "The browser test needs Debian's $(BROWSER_PACKAGES):" \
	      "run 'sudo apt-get install $(BROWSER_PACKAGES)'."; exit 1; \
	  fi; }

# The tests run the hand-over and the exactly-once scenarios on RabbitMQ too: on the server at
# RABBITMQ_URL, or 127.0.0.1:5672, or a private one started from Debian's rabbitmq-server (each
# xdist worker on a virtual host of its own, made with rabbitmqctl); as root, install it.
RABBITMQ_SERVER := /usr/lib/rabbitmq/bin/rabbitmq-server
rabbitmq:
	@test -x $(RABBITMQ_SERVER) -a -n "$$(command -v rabbitmqctl)" || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing rabbitmq-server for the RabbitMQ tests…"; \
	    apt-get $(APT_WAIT) update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get $(APT_WAIT) install -y -qq rabbitmq-server >/dev/null; \
	  else \
	    echo "The RabbitMQ tests need Debian's rabbitmq-server (and its rabbitmqctl):" \
	      "run 'sudo apt-get install rabbitmq-server'."; exit 1; \
	  fi; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# After an intended change to the emails: refresh the snapshots and review the diff.
snapshots: $(STAMP) browser
	UPDATE_SNAPSHOTS=1 $(BIN)/pytest -q tests/unit/test_snapshots.py \
	  tests/scenarios/test_studio_browser.py tests/scenarios/test_report_browser.py \
	  tests/scenarios/test_loyalty_page_browser.py tests/scenarios/test_studio_editor_browser.py \
	  tests/scenarios/test_dashboard_browser.py tests/scenarios/test_unsubscribe_page_browser.py

# The soak runs the Procfile's processes for 5 minutes: `make bench SOAK_ARGS=--quick` for 30 s.
SOAK_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.delivery
	$(BIN)/python -m bench.delivery --threads 8 --in-flight 32 --round-trip-ms 50
	$(BIN)/python -m bench.processes --processes 1 2 3 --round-trip-ms 50
	$(BIN)/python -m bench.webhooks
	$(BIN)/python -m bench.rendering
	$(BIN)/python -m bench.soak $(SOAK_ARGS)
	$(BIN)/python -m bench.importing
	$(BIN)/python -m bench.clv
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.loyalty
	$(BIN)/python -m bench.broadcasts

# Worker and clock SIGKILLs, Redis and PostgreSQL hung or lost, hostile bodies, on the Procfile's
# processes: prints lost, duplicates and 5xx, and exits 1 unless all are 0. About 4 minutes.
chaos: $(STAMP)
	$(BIN)/python -m bench.chaos

bench-triggers: $(STAMP)
	$(BIN)/python -m bench.triggers

bench-broadcasts: $(STAMP)
	$(BIN)/python -m bench.broadcasts

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
