# Hearth. `make run` and `make test` set up a fresh Debian/Ubuntu machine themselves.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/.tools/node/bin:$(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

.PHONY: run test setup setup-test ui build types lint test-rust test-ui test-e2e test-desktop test-package test-crash bench deb clean fuzz fuzz-afl

## Start Hearth: the desktop window when a display exists, else the headless node.
run: setup build
	@if [ -n "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then \
	  exec target/debug/hearth-desktop; \
	else \
	  exec target/debug/hearth run $(ARGS); \
	fi

## Every test: Rust unit + multi-node integration, UI unit, browser end-to-end, desktop smoke,
## and the installed package.
test: setup-test build lint test-rust test-ui test-e2e test-desktop test-package
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
	scripts/desktop-webdriver.sh

## Fuzz every decoder of peer bytes for HEARTH_FUZZ_SECS seconds each (default 60; one
## target: HEARTH_FUZZ_TARGET=name): random and structure-aware inputs (proptest), fresh seeds
## each run. A failing input is kept in tests/fuzz-corpus/<target>/, which every `cargo test`
## replays. `make test` runs a short seeded pass of the same targets.
fuzz:
	HEARTH_FUZZ_SECS=$${HEARTH_FUZZ_SECS:-60} $(CARGO) test -p hearth --lib -- \
	  --ignored --exact fuzz::tests::fuzz_for_a_while --nocapture

## The same targets coverage-guided under AFL++ (needs `cargo install cargo-afl`), starting
## from the corpus; crashes are copied into it and fail the run.
AFL_DIR := target/afl
fuzz-afl:
	CARGO_TARGET_DIR=$(AFL_DIR) $(CARGO) afl build --features afl --bin hearth-fuzz
	@mkdir -p $(AFL_DIR)/out; crashed=""; \
	for t in $${HEARTH_FUZZ_TARGET:-$$($(AFL_DIR)/debug/hearth-fuzz --list)}; do \
	  echo "fuzz-afl: $$t for $${HEARTH_FUZZ_SECS:-60} s"; \
	  HEARTH_FUZZ_TARGET=$$t AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_IGNORE_SEED_PROBLEMS=1 \
	    AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_BIN_CHECK=1 \
	    $(CARGO) afl fuzz -V $${HEARTH_FUZZ_SECS:-60} -i tests/fuzz-corpus/$$t \
	    -o $(AFL_DIR)/out/$$t $(AFL_DIR)/debug/hearth-fuzz > $(AFL_DIR)/out/$$t.log 2>&1 || true; \
	  grep -h "execs_done\|corpus_count\|saved_crashes" $(AFL_DIR)/out/$$t/default/fuzzer_stats 2>/dev/null | tr -s ' ' | paste -sd' ' || true; \
	  for c in $(AFL_DIR)/out/$$t/default/crashes/id:*; do \
	    [ -f "$$c" ] || continue; crashed="$$crashed $$t"; \
	    cp "$$c" tests/fuzz-corpus/$$t/crash-afl-$$(sha256sum "$$c" | cut -c1-16); \
	  done; \
	done; \
	if [ -n "$$crashed" ]; then echo "fuzz-afl: crashes in:$$crashed (kept in tests/fuzz-corpus)"; exit 1; fi

## Installs the .deb (from the debug build), runs both programs from it, removes it (root).
test-package: build
	scripts/test-package.sh

## The crash test's long run: 100 kill -9 cycles (make test runs 25; see ARCHITECTURE.md, "Tests").
test-crash:
	HEARTH_CRASH_CYCLES=100 $(CARGO) test -p hearth --test crash -- --nocapture

## Benchmarks: figures beside baselines, written to bench-results/ (see BENCHMARKS.md).
bench: setup ui
	@scripts/setup.sh --test --bench
	scripts/bench.sh

## Release .deb of the desktop app (see ARCHITECTURE.md, "Packaging").
deb: setup ui
	scripts/deb.sh

clean:
	$(CARGO) clean
	rm -rf ui/dist
