#!/usr/bin/env bash
# Installs what building, running and testing Hearth needs on Debian 12 / Ubuntu:
# system packages (apt, as root or through sudo), a Rust toolchain, Node.js >= 20.19,
# and the UI's npm packages. Safe to run again: it only installs what is missing.
#   scripts/setup.sh          everything for `make run`
#   scripts/setup.sh --test   plus what the tests need (Xvfb, Chromium, ImageMagick, aria2,
#                             Transmission, qBittorrent-nox, iproute2 and iptables for the
#                             network lab)
#   scripts/setup.sh --bench  plus what the benchmarks compare against (iperf3; with --test
#                             as well, the BitTorrent clients)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
want_bench=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --bench) want_bench=1 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

packages=(build-essential pkg-config curl file libssl-dev libgtk-3-dev libwebkit2gtk-4.1-dev
  librsvg2-dev libayatana-appindicator3-dev libxdo-dev
  # The desktop window's player decodes through GStreamer (H.264/AAC by libav, WebM by
  # -good); ffmpeg makes video thumbnails and durations when publishing.
  gstreamer1.0-plugins-good gstreamer1.0-libav ffmpeg)
# aria2, transmission-daemon/-cli, qbittorrent-nox: the standard BitTorrent clients the
# interoperability tests exchange files with (tests/bt_clients.rs).
# iproute2, iptables: the network lab (namespaces and NAT routers, tests/netlab).
# webkit2gtk-driver: WebKitWebDriver, which tauri-driver (below) drives the desktop window with.
test_packages=(xvfb xauth dbus-x11 dbus curl chromium imagemagick aria2 transmission-daemon
  transmission-cli qbittorrent-nox iproute2 iptables webkit2gtk-driver)
bench_packages=(iperf3 iproute2)
[ "$want_test" = 1 ] && packages+=("${test_packages[@]}")
[ "$want_bench" = 1 ] && packages+=("${bench_packages[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
    echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  echo "setup: installing the Rust toolchain (rustup)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi

# Vite needs Node.js >= 20.19. Distributions often ship older ones; then take Node from the
# npm registry's prebuilt package into .tools/ (the Makefile puts it first on PATH).
node_ok() {
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null
}
if ! node_ok node && ! node_ok .tools/node/bin/node; then
  arch=$(uname -m); case "$arch" in x86_64) arch=x64;; aarch64) arch=arm64;; esac
  echo "setup: system Node.js is too old; installing node-linux-$arch@22 into .tools/"
  mkdir -p .tools
  npm install --silent --no-save --prefix .tools/npm "node-linux-$arch@22"
  rm -rf .tools/node && ln -s "npm/node_modules/node-linux-$arch" .tools/node
fi
export PATH="$PWD/.tools/node/bin:$PATH"

# tauri-driver (the WebDriver server for the desktop window), from crates.io into .tools/.
TAURI_DRIVER_VERSION=2.1.0
if [ "$want_test" = 1 ] && ! .tools/cargo/bin/tauri-driver --help >/dev/null 2>&1; then
  echo "setup: installing tauri-driver $TAURI_DRIVER_VERSION into .tools/"
  PATH="$HOME/.cargo/bin:$PATH" cargo install --quiet --locked --root .tools/cargo \
    tauri-driver --version "$TAURI_DRIVER_VERSION"
fi

# npm packages, when package-lock.json changed since the last install.
if [ ! -f ui/node_modules/.package-lock.json ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  echo "setup: installing UI packages"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
fi
