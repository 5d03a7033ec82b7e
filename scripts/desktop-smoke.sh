#!/usr/bin/env bash
# Desktop smoke test: the Tauri app starts under Xvfb, loads the UI, the UI reaches the
# core over IPC, and the window is not blank (a screenshot with real content).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/debug/hearth-desktop
[ -x "$bin" ] || { echo "desktop-smoke: $bin is not built" >&2; exit 1; }
work=$(mktemp -d)
shots=target/screenshots
mkdir -p "$shots"
trap 'rm -rf "$work"' EXIT

cat > "$work/inner.sh" <<'INNER'
set -u
bin=$1; work=$2; shot=$3
HEARTH_DATA_DIR="$work/data" HEARTH_LISTEN=/ip4/127.0.0.1/tcp/0 HEARTH_HTTP=127.0.0.1:0 HEARTH_MDNS=0 \
  HEARTH_NAME="Smoke Test" RUST_LOG=info,hearth_desktop::ipc=debug "$bin" > "$work/log" 2>&1 &
pid=$!
ok=0
for _ in $(seq 1 120); do
  if grep -q 'ui loaded' "$work/log" && grep -q '"list_peers"' "$work/log"; then ok=1; break; fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.25
done
# WebKit paints some time after the first IPC answer (seconds on a fresh, busy machine):
# take screenshots until one shows the rendered UI (hundreds of colours; a blank window
# has a handful), for up to 60 s.
painted=0
if [ $ok = 1 ]; then
  for _ in $(seq 1 120); do
    import -window root "$shot" 2>/dev/null || true
    colors=$(identify -format '%k' "$shot" 2>/dev/null || echo 0)
    if [ "${colors:-0}" -ge 100 ]; then painted=1; break; fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.5
  done
fi
# One instance: a second launch with an invite hands it to the running window and exits.
second=0
if [ $painted = 1 ]; then
  import -window root "$work/before.png" 2>/dev/null || true
  before=$(identify -format '%#' "$work/before.png" 2>/dev/null || echo none)
  HEARTH_DATA_DIR="$work/data2" HEARTH_LISTEN=/ip4/127.0.0.1/tcp/0 HEARTH_HTTP=127.0.0.1:0 HEARTH_MDNS=0 \
    timeout 30 "$bin" "hearth:invite/AQ-smoke" > "$work/log2" 2>&1 && second=1
  for _ in $(seq 1 40); do
    grep -q 'opened with an invite' "$work/log" && break
    sleep 0.25
  done
  grep -q 'opened with an invite' "$work/log" || second=0
  # The window goes to the Peers page with the invite in "Join with an invite": the screen
  # changes (kept for a person to look at).
  changed=0
  for _ in $(seq 1 40); do
    import -window root "${shot%.png}-invite.png" 2>/dev/null || true
    after=$(identify -format '%#' "${shot%.png}-invite.png" 2>/dev/null || echo none)
    if [ "$after" != "$before" ]; then changed=1; break; fi
    sleep 0.25
  done
  [ $changed = 1 ] || second=0
fi
kill $pid 2>/dev/null; wait $pid 2>/dev/null
[ $ok = 1 ] || exit 1
[ $painted = 1 ] || exit 2
[ $second = 1 ] || exit 3
INNER

status=0
# A D-Bus session, as a desktop has: the single-instance lock lives on it.
xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- bash "$work/inner.sh" "$bin" "$work" "$shots/desktop.png" || status=$?
if [ $status = 1 ]; then
  echo "desktop-smoke: FAILED: the window did not load the UI and reach the core over IPC" >&2
  cat "$work/log" >&2
  exit 1
fi
colors=$(identify -format '%k' "$shots/desktop.png" 2>/dev/null || echo 0)
if [ $status = 3 ]; then
  echo "desktop-smoke: FAILED: a second launch did not hand its invite to the running window" >&2
  cat "$work/log" "$work/log2" >&2
  exit 1
fi
if [ $status != 0 ]; then
  echo "desktop-smoke: FAILED: the window stayed blank for 60 s after the UI loaded ($colors colours in $shots/desktop.png)" >&2
  cat "$work/log" >&2
  exit 1
fi
echo "desktop-smoke: ok (UI loaded, IPC answered, $colors colours on screen, a second launch handed over its invite)"
echo "1 passed, 0 failed"
