#!/usr/bin/env bash
# Drives the real desktop window over WebDriver (tauri-driver + WebKitWebDriver) under Xvfb
# and a D-Bus session: ui/e2e/desktop/window.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."
for bin in target/debug/hearth-desktop target/debug/hearth; do
  [ -x "$bin" ] || { echo "desktop-webdriver: $bin is not built" >&2; exit 1; }
done
driver=${TAURI_DRIVER:-.tools/cargo/bin/tauri-driver}
[ -x "$driver" ] || { echo "desktop-webdriver: tauri-driver is missing (scripts/setup.sh --test installs it)" >&2; exit 1; }
command -v WebKitWebDriver >/dev/null || { echo "desktop-webdriver: WebKitWebDriver is missing (package webkit2gtk-driver)" >&2; exit 1; }
export TAURI_DRIVER="$PWD/$driver"
xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- node --test ui/e2e/desktop/window.mjs
