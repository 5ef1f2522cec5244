# ELako Chat. `make run` starts the app; `make test` runs every test. Both work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test install install-dev chromium bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Without MONGODB_URI the data lives in the server's memory (mongomock), so the demo accounts are
# created at start-up; `flask --app app seed-demo` does the same against a real MongoDB. The web
# worker runs background jobs too (START_JOB_WORKER=0 when `flask --app app worker` runs them).
run: install
	PORT=$(PORT) SEED_DEMO=$${SEED_DEMO:-$$([ -z "$$MONGODB_URI" ] && echo 1 || echo 0)} \
		START_JOB_WORKER=$${START_JOB_WORKER:-1} $(BIN)/gunicorn -c gunicorn.conf.py app:app

# The browser tests drive Debian's chromium through Playwright (no Playwright browser download),
# with a colour emoji font so emoji in messages and screenshots are not empty boxes;
# tests/test_nginx_front.py puts Debian's nginx (with its brotli_static module) in front of gunicorn.
EMOJI_FONT ?= /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
NGINX ?= /usr/sbin/nginx
chromium:
	@{ test -x $(CHROMIUM) && test -e $(EMOJI_FONT) && test -x $(NGINX) && \
		test -e /usr/lib/nginx/modules/ngx_http_brotli_static_module.so; } || { \
		echo "Installing Debian's chromium, fonts and nginx for the browser and front tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-dejavu-core \
			fonts-noto-color-emoji nginx libnginx-mod-http-brotli-static; }

test: install-dev chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# A longer schemathesis campaign than `make test` runs (tests/support/fuzz.py): FUZZ_EXAMPLES
# generated requests per operation against a fresh gunicorn server; FUZZ_SEED to replay a run.
FUZZ_EXAMPLES ?= 500
fuzz: install-dev
	$(BIN)/python -m tests.support.fuzz --max-examples $(FUZZ_EXAMPLES) $(if $(FUZZ_SEED),--seed $(FUZZ_SEED))

# The Socket.IO peer and the load generator of bench/run.py.
bench/node/node_modules/.package-lock.json: bench/node/package.json bench/node/package-lock.json
	cd bench/node && npm ci --no-audit --no-fund

# The full run takes 15-30 minutes and rewrites docs/benchmarks.md; `bench/run.py --quick` is small.
bench: install-dev bench/node/node_modules/.package-lock.json
	$(BIN)/python bench/page_weight.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/stream_memory.py
	$(BIN)/python bench/profile.py --write-docs
	$(BIN)/python bench/run.py --write-docs

clean:
	rm -rf $(VENV) var .pytest_cache
