#!/usr/bin/env bash
# Runs every benchmark with its baseline and writes the figures to bench-results/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench-results
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr); date: $(date -u +%F)" | tee bench-results/machine.txt
cargo bench --bench presence 2>/dev/null | tee bench-results/presence.md
cargo bench --bench catalog 2>/dev/null | tee bench-results/catalog.md
cargo bench --bench propagation 2>/dev/null | tee bench-results/propagation.md
cargo bench --bench chat 2>/dev/null | tee bench-results/chat.md
# Across NAT, in the network lab (needs root: namespaces, veth pairs, iptables).
cargo bench --bench nat 2>/dev/null | tee bench-results/nat.md
# The transfer baseline: stock librqbit from the registry, built apart from Hearth (which links
# its patched copy in vendor/librqbit) and run as separate processes by the benchmark.
stock_target="$(realpath -m "${CARGO_TARGET_DIR:-target}")/rqbit-stock"
cargo build --release --quiet --manifest-path benches/rqbit-stock/Cargo.toml --target-dir "$stock_target"
HEARTH_BENCH_RQBIT_STOCK="$stock_target/release/rqbit-stock" \
  cargo bench --bench transfer 2>/dev/null | tee bench-results/transfer.md
# Hearth beside qBittorrent, Transmission and aria2 (needs the clients: setup.sh --test).
cargo bench --bench clients 2>/dev/null | tee bench-results/clients.md
# Video playback in Chromium (benches/video.mjs): the release node (built by the benches above) serving the built UI.
{ [ -f ui/dist/index.html ] || (cd ui && npm run build >&2); } && HEARTH_BIN="$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/hearth" node benches/video.mjs | tee bench-results/video.md
