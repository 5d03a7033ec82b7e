#!/usr/bin/env bash
# The installed app: builds the .deb from the debug binaries `make build` made (the release
# one is `make deb`, the same bundler and configuration), installs it with apt (which
# proves its dependencies are declared), starts `hearth run` and `hearth-desktop` from the
# installed paths and checks that each serves the installed UI, checks the desktop entry
# (magnet: and hearth: links) and the icons, then removes the package, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test-package: needs root to install a package" >&2; exit 1; }

work=$(mktemp -d)
pkg=hearth
cleanup() {
  for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
  if dpkg -s "$pkg" >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get remove -y -q "$pkg" >/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test-package: FAILED: $*" >&2; exit 1; }

scripts/deb.sh --debug
deb=$(ls target/debug/bundle/deb/*.deb)
if dpkg -s "$pkg" >/dev/null 2>&1; then
  fail "a package named $pkg is already installed; remove it first"
fi
echo "test-package: installing $deb"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "./$deb" > "$work/apt.log" 2>&1 \
  || { cat "$work/apt.log" >&2; fail "apt-get install"; }

for f in /usr/bin/hearth-desktop /usr/bin/hearth /usr/share/hearth/ui/index.html; do
  [ -e "$f" ] || fail "$f is not installed"
done
entry=$(ls /usr/share/applications/*.desktop 2>/dev/null | xargs -r grep -l 'hearth-desktop' | head -1)
[ -n "$entry" ] || fail "no desktop entry runs hearth-desktop"
grep -q '^MimeType=.*x-scheme-handler/magnet' "$entry" || fail "$entry does not open magnet: links"
grep -q '^MimeType=.*x-scheme-handler/hearth' "$entry" || fail "$entry does not open hearth: links"
grep -q '^Exec=hearth-desktop %u' "$entry" || fail "$entry does not pass the link to the app"
for size in 32x32 128x128 256x256; do
  ls /usr/share/icons/hicolor/$size/apps/*.png >/dev/null 2>&1 || fail "no $size icon"
done

# The headless node from the installed binary serves the installed UI.
/usr/bin/hearth --data-dir "$work/run" run --no-mdns --listen /ip4/127.0.0.1/tcp/0 \
  --http 127.0.0.1:0 --bt-port 0 > "$work/run.log" 2>&1 &
url=""
for _ in $(seq 1 120); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*/#token=[0-9a-f]*' "$work/run.log" | head -1 || true)
  [ -n "$url" ] && break
  sleep 0.25
done
[ -n "$url" ] || { cat "$work/run.log" >&2; fail "hearth run did not print its address"; }
base=${url%%/#*}
curl -fsS "$base/" | grep -q '<div id="app"' || fail "hearth run does not serve the installed UI"
status=$(/usr/bin/hearth --data-dir "$work/run" --json status) || fail "hearth status"
echo "$status" | grep -q '"peer_id"' || fail "hearth status printed no peer id"

# The desktop app from the installed binary loads its UI and reaches the core.
cat > "$work/desktop.sh" <<'INNER'
HEARTH_DATA_DIR="$1/desk" HEARTH_LISTEN=/ip4/127.0.0.1/tcp/0 HEARTH_HTTP=127.0.0.1:0 HEARTH_MDNS=0 \
  RUST_LOG=info,hearth_desktop::ipc=debug /usr/bin/hearth-desktop > "$1/desk.log" 2>&1 &
pid=$!
for _ in $(seq 1 240); do
  if grep -q 'ui loaded' "$1/desk.log" && grep -q '"list_peers"' "$1/desk.log"; then
    kill $pid; wait $pid 2>/dev/null; exit 0
  fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.25
done
kill $pid 2>/dev/null; exit 1
INNER
xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- bash "$work/desktop.sh" "$work" \
  || { cat "$work/desk.log" >&2; fail "the installed hearth-desktop did not load its UI"; }

DEBIAN_FRONTEND=noninteractive apt-get remove -y -q "$pkg" > "$work/remove.log" 2>&1 \
  || { cat "$work/remove.log" >&2; fail "apt-get remove"; }
for f in /usr/bin/hearth-desktop /usr/bin/hearth /usr/share/hearth/ui/index.html; do
  [ ! -e "$f" ] || fail "$f is still there after removal"
done
echo "test-package: ok (installed, both programs ran from the installed files, removed cleanly)"
echo "1 passed, 0 failed"
