# Hearth. `make run` and `make test` set up a fresh Debian/Ubuntu machine themselves.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/.tools/node/bin:$(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

.PHONY: run test setup setup-test ui build types lint test-rust test-ui test-e2e test-desktop bench deb clean

## Start Hearth: the desktop window when a display exists, else the headless node.
run: setup build
	@if [ -n "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then \
	  exec target/debug/hearth-desktop; \
	else \
	  exec target/debug/hearth run $(ARGS); \
	fi

## Every test: Rust unit + multi-node integration, UI unit, browser end-to-end, desktop smoke.
test: setup-test build lint test-rust test-ui test-e2e test-desktop
	@echo "make test: all suites passed"

setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh --test

ui:
	cd ui && npm run build

build: ui
	$(CARGO) build --workspace

## Regenerate what the API declaration generates: ui/src/api/{types,commands}.ts and the
## desktop capability file.
types:
	HEARTH_UPDATE_TYPES=1 $(CARGO) test -p hearth --lib -- _are_up_to_date
	HEARTH_UPDATE_TYPES=1 $(CARGO) test -p hearth-desktop -- capability_file

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy -p hearth -p hearth-desktop --all-targets -- -D warnings
	cd ui && npm run typecheck

test-rust:
	$(CARGO) test -p hearth -p hearth-desktop

test-ui:
	cd ui && npm test

test-e2e:
	cd ui && HEARTH_BIN=$(CURDIR)/target/debug/hearth npm run e2e

test-desktop:
	scripts/desktop-smoke.sh

## Benchmarks: figures beside baselines, written to bench-results/ (see BENCHMARKS.md).
bench: setup ui
	@scripts/setup.sh --bench
	scripts/bench.sh

## Release .deb of the desktop app (see ARCHITECTURE.md, "Packaging").
deb: setup ui
	scripts/deb.sh

clean:
	$(CARGO) clean
	rm -rf ui/dist
