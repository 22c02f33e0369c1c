# The two commands a user needs: `make run` and `make test`. Everything else they build on.
CARGO ?= cargo
ADAPTER_OUT := target/adapters
ADAPTER_BUILD := adapters/target/wasm32-wasip2/release
# Test-only components (they attack the host) stay out of the adapter directory.
TEST_ADAPTERS := hostile hostile_v0 future_major broken mock_sync_server_next legacy_v1_0
TEST_ADAPTER_OUT := target/test-adapters

.PHONY: setup adapters build run test bench install fmt clippy

PREFIX ?= /usr/local

## setup: install what is missing (the wasm32-wasip2 target; Chromium and its driver for
## the admin page's browser test; Debian's PostgreSQL server, which the PostgreSQL tests
## start a throwaway cluster of); safe to run again.
setup:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
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

## adapters: build every adapter component (one workspace, one build) into target/adapters/.
adapters: setup
	cd adapters && $(CARGO) build --release --locked
	@mkdir -p $(ADAPTER_OUT) $(TEST_ADAPTER_OUT)
	@for f in $(ADAPTER_BUILD)/*.wasm; do \
		case " $(TEST_ADAPTERS) " in *" $$(basename $$f .wasm) "*) cp "$$f" $(TEST_ADAPTER_OUT)/;; *) cp "$$f" $(ADAPTER_OUT)/;; esac; \
	done
	@ls $(ADAPTER_OUT) $(TEST_ADAPTER_OUT)

## build: the host crate and the dcsync binary (debug).
build:
	$(CARGO) build --locked

## run: a demo sync against the built-in mock server, on an embedded SQLite store.
run: adapters build
	./target/debug/dcsync --adapters $(ADAPTER_OUT) demo

## test: every test of both workspaces, against freshly built adapters (the PostgreSQL
## tests start a throwaway server of their own, or use DCSYNC_TEST_DATABASE_URL).
test: adapters
	cd adapters && $(CARGO) test --locked --target $$(rustc -vV | sed -n 's/host: //p')
	DCSYNC_ADAPTERS=$(CURDIR)/$(ADAPTER_OUT) $(CARGO) test --locked --workspace

## bench: what the sandbox costs, as ratios measured in one run (release build), and the
## stores side by side (SQLite and a throwaway PostgreSQL cluster).
## `make bench QUICK=1` runs every measure at a small size.
bench: adapters
	BENCH_QUICK=$(QUICK) $(CARGO) bench --locked -p datacollect-sync-e2e --bench sync

## install: the dcsync binary (release) and the shipped adapters under $(PREFIX):
## $(PREFIX)/bin/dcsync finds $(PREFIX)/share/dcsync/adapters by itself.
install: adapters
	$(CARGO) build --release --locked -p dcsync-cli --bin dcsync
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/dcsync/adapters
	install -m 0755 target/release/dcsync $(DESTDIR)$(PREFIX)/bin/dcsync
	install -m 0644 $(ADAPTER_OUT)/*.wasm $(DESTDIR)$(PREFIX)/share/dcsync/adapters/

fmt:
	$(CARGO) fmt --all
	cd adapters && $(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd adapters && $(CARGO) clippy --all-targets -- -D warnings
