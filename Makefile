# The two commands a user needs: `make run` and `make test`. Everything else they build on.
CARGO ?= cargo
ADAPTER_OUT := target/adapters
ADAPTER_BUILD := adapters/target/wasm32-wasip2/release
# Test-only components (they attack the host) stay out of the adapter directory.
TEST_ADAPTERS := hostile hostile_v0 hostile_describe future_major broken mock_sync_server_next legacy_v1_0
TEST_ADAPTER_OUT := target/test-adapters
# Adapters written in JavaScript and Python (componentize-js, componentize-py), each built
# from its source by the SDK's build script; rebuilt only when a source changes.
SDK_JS := adapters/sdk-js/sdk.js adapters/sdk-js/build.mjs adapters/sdk-js/package-lock.json wit/external-sync.wit
SDK_PY := adapters/sdk-py/datacollect_sdk.py adapters/sdk-py/build.py wit/external-sync.wit
SCRIPT_ADAPTERS := $(ADAPTER_OUT)/js_webhook.wasm $(ADAPTER_OUT)/python_webhook.wasm \
	$(TEST_ADAPTER_OUT)/hostile_js.wasm $(TEST_ADAPTER_OUT)/hostile_py.wasm
PYTHON ?= python3

.PHONY: setup adapters node build run test bench sim fuzz mutants install fmt clippy

PREFIX ?= /usr/local

## setup: install what is missing (the wasm32-wasip2 target; componentize-js and jco from
## npm and componentize-py from PyPI, pinned, for the JS and Python adapters; Chromium and
## its driver for the admin page's browser test; Debian's PostgreSQL server, which the
## PostgreSQL tests start a throwaway cluster of); safe to run again.
setup:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
	@[ adapters/sdk-js/node_modules/.package-lock.json -nt adapters/sdk-js/package-lock.json ] || \
		(cd adapters/sdk-js && npm ci --no-audit --no-fund --loglevel=error)
	@$(PYTHON) -c "import importlib.metadata as m, sys; sys.exit(m.version('componentize-py') != '0.25.1')" 2>/dev/null || \
		$(PYTHON) -m pip install -q -r adapters/sdk-py/requirements.txt || \
		$(PYTHON) -m pip install -q --break-system-packages -r adapters/sdk-py/requirements.txt
	@MISSING=""; \
	if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		echo "installing chromium and chromium-driver (browser test of the admin page)"; \
		MISSING="chromium chromium-driver"; \
	fi; \
	if [ -z "$$DCSYNC_TEST_DATABASE_URL" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing postgresql (the PostgreSQL store's tests start a throwaway server)"; \
		MISSING="$$MISSING postgresql"; \
	fi; \
	if [ -n "$$MISSING" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$MISSING; \
	fi

## adapters: build every adapter component into target/adapters/ (test-only ones into
## target/test-adapters/): the Rust workspace in one build, then the JS and Python ones.
adapters: setup
	cd adapters && $(CARGO) build --release --locked
	@mkdir -p $(ADAPTER_OUT) $(TEST_ADAPTER_OUT)
	@for f in $(ADAPTER_BUILD)/*.wasm; do \
		case " $(TEST_ADAPTERS) " in *" $$(basename $$f .wasm) "*) cp "$$f" $(TEST_ADAPTER_OUT)/;; *) cp "$$f" $(ADAPTER_OUT)/;; esac; \
	done
	@$(MAKE) --no-print-directory $(SCRIPT_ADAPTERS)
	@ls $(ADAPTER_OUT) $(TEST_ADAPTER_OUT)

$(ADAPTER_OUT)/js_webhook.wasm: adapters/examples/js-webhook/adapter.js $(SDK_JS)
	node adapters/sdk-js/build.mjs $< $@
$(TEST_ADAPTER_OUT)/hostile_js.wasm: adapters/hostile-js/adapter.js $(SDK_JS)
	node adapters/sdk-js/build.mjs $< $@
$(ADAPTER_OUT)/python_webhook.wasm: adapters/examples/python-webhook/app.py $(SDK_PY)
	$(PYTHON) adapters/sdk-py/build.py adapters/examples/python-webhook app $@
$(TEST_ADAPTER_OUT)/hostile_py.wasm: adapters/hostile-py/app.py $(SDK_PY)
	$(PYTHON) adapters/sdk-py/build.py adapters/hostile-py app $@

## build: the host crate and the dcsync binary (debug).
build:
	$(CARGO) build --locked

## run: a demo sync against the built-in mock server, on an embedded SQLite store.
run: adapters build
	./target/debug/dcsync --adapters $(ADAPTER_OUT) demo

## node: the Node package (bindings/node): its npm tools, and the addon (debug build, as
## the tests use it) as bindings/node/dcsync.node. `cd bindings/node && npm run build` makes
## the release addon for publishing.
node:
	@[ bindings/node/node_modules/.package-lock.json -nt bindings/node/package-lock.json ] || \
		(cd bindings/node && npm ci --no-audit --no-fund --loglevel=error)
	$(CARGO) build --locked -p dcsync-node
	cp target/debug/libdcsync_node.so bindings/node/dcsync.node

## test: every test of both workspaces, against freshly built adapters (the PostgreSQL
## tests start a throwaway server of their own, or use DCSYNC_TEST_DATABASE_URL; the Node
## package's tests run with Node's runner, from runtime/cli/tests/node_package.rs).
test: adapters node
	cd adapters && $(CARGO) test --locked --target $$(rustc -vV | sed -n 's/host: //p')
	DCSYNC_ADAPTERS=$(CURDIR)/$(ADAPTER_OUT) $(CARGO) test --locked --workspace

## bench: what the sandbox costs, as ratios measured in one run (release build), and the
## stores side by side (SQLite and a throwaway PostgreSQL cluster).
## `make bench QUICK=1` runs every measure at a small size.
bench: adapters node
	$(CARGO) build --release --locked -p dcsync-node
	BENCH_QUICK=$(QUICK) $(CARGO) bench --locked -p datacollect-sync-e2e --bench sync

## sim: the seeded simulation of the sync loop (faults, host crashes; invariants checked
## after every round) on SQLite and PostgreSQL. SEEDS=N seeds from SIM_FIRST (default 0);
## SEED=S replays one; SIM_STORE=sqlite or postgres runs one store. `make test` runs a
## CI-sized number.
SEEDS ?= 2000
sim: adapters
	SIM_SEEDS=$(SEEDS) SIM_SEED=$(SEED) $(CARGO) test --locked -p datacollect-sync-e2e --test simulation -- --nocapture $(SIM_STORE)

## fuzz: fuzz every target for SECONDS each (cargo fuzz, on stable without sanitizers; it
## builds an instrumented tree of its own, so it is not part of `make test`, which replays
## the corpus instead). New inputs go to target/fuzz-corpus/<target>; a crash is copied to
## fuzz/regressions/<target>/, which `make test` replays: fix it and keep the file.
SECONDS ?= 60
FUZZ_TARGETS = config import responses loader cache api
fuzz: adapters
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@failed=""; for t in $(FUZZ_TARGETS); do \
		mkdir -p target/fuzz-corpus/$$t; \
		(cd fuzz && DCSYNC_ADAPTERS=$(CURDIR)/$(ADAPTER_OUT) $(CARGO) fuzz run -s none $$t \
			../target/fuzz-corpus/$$t corpus/$$t regressions/$$t -- \
			-max_total_time=$(SECONDS) -timeout=60 -rss_limit_mb=4096 -print_final_stats=1) \
			2>&1 | tee target/fuzz-$$t.log | grep -E "stat::number_of_executed_units|Done|crash-|ERROR" ; \
		for c in fuzz/artifacts/$$t/crash-* fuzz/artifacts/$$t/timeout-* fuzz/artifacts/$$t/oom-*; do \
			[ -e "$$c" ] && cp "$$c" fuzz/regressions/$$t/ && failed="$$failed $$t"; \
		done; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzzing found crashes in:$$failed (see fuzz/regressions/)"; exit 1; fi

## install: the dcsync binary (release) and the shipped adapters under $(PREFIX):
## $(PREFIX)/bin/dcsync finds $(PREFIX)/share/dcsync/adapters by itself.
install: adapters
	$(CARGO) build --release --locked -p dcsync-cli --bin dcsync
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/dcsync/adapters
	install -m 0755 target/release/dcsync $(DESTDIR)$(PREFIX)/bin/dcsync
	install -m 0644 $(ADAPTER_OUT)/*.wasm $(DESTDIR)$(PREFIX)/share/dcsync/adapters/

## mutants: mutation testing of the security-critical code, on demand (never part of
## `make test`: every mutant is a rebuild and a test run, about an hour for all groups on 2 cores). Each group
## mutates its files and runs only the tests that cover them; `MUTANTS=egress` (or secrets,
## http, limits, applier) runs one group. Results land in mutants.out/; SECURITY.md keeps
## the figures and the reason for every mutant left alive.
MUTANTS ?= egress secrets http limits applier
MUTANTS_RUN = nice -n 10 $(CARGO) mutants --timeout 300 -j 1 --no-shuffle
mutants:
	@$(CARGO) mutants --version >/dev/null 2>&1 || $(CARGO) install cargo-mutants --locked
	@mkdir -p mutants.out
	@for group in $(MUTANTS); do case $$group in \
	egress) $(MUTANTS_RUN) -o mutants.out/egress -f runtime/host/src/egress.rs \
		--test-package dcsync-host ;; \
	secrets) $(MUTANTS_RUN) -o mutants.out/secrets -f 'runtime/host/src/secrets/*.rs' \
		-f runtime/contract/src/config.rs --test-package dcsync-host --test-package dcsync-contract ;; \
	http) $(MUTANTS_RUN) -o mutants.out/http \
		-f runtime/host/src/http.rs -f runtime/host/src/json_body.rs \
		--test-package dcsync-host ;; \
	limits) DCSYNC_ADAPTERS=$(CURDIR)/$(ADAPTER_OUT) $(MUTANTS_RUN) -o mutants.out/limits \
		-f runtime/host/src/limiter.rs -f runtime/engine/src/classify.rs \
		-f runtime/contract/src/limits.rs --test-package dcsync-host --test-package dcsync-engine ;; \
	applier) $(MUTANTS_RUN) -o mutants.out/applier -f 'runtime/applier/src/**/*.rs' \
		--test-package dcsync-applier ;; \
	*) echo "unknown mutants group $$group"; exit 2 ;; \
	esac; rc=$$?; [ $$rc = 0 ] || [ $$rc = 2 ] || [ $$rc = 3 ] || exit $$rc; done # 2: mutants missed, 3: timeouts (both reported)

fmt:
	$(CARGO) fmt --all
	cd adapters && $(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd adapters && $(CARGO) clippy --all-targets -- -D warnings
