#!/usr/bin/env bash
# Builds the release .deb of the desktop app with the standard Tauri bundler (`--debug`: from
# the debug binaries, for the package test).
#
# tauri.conf.json sits at the top level, so the Tauri CLI takes the workspace root (package
# `hearth`) for the app crate. Its `tauri build` would therefore compile the wrong package, so
# this script compiles the release binaries with cargo itself and then runs only
# `tauri bundle`, which packages what is already built: `mainBinaryName` points the bundler
# at target/release/hearth-desktop, and `bundle.linux.deb.files` adds the headless
# target/release/hearth as /usr/bin/hearth plus ui/dist as /usr/share/hearth/ui (which
# `hearth run` serves). See ARCHITECTURE.md, "Packaging".
set -euo pipefail
cd "$(dirname "$0")/.."

# The Tauri CLI, from the npm registry, pinned to the tauri crate's version in Cargo.lock.
TAURI_CLI_VERSION=2.12.5

# `--debug`: package the debug binaries `make build` already made (for `make test-package`,
# which tests installing and running the package, not its speed).
profile=release
[ "${1:-}" = "--debug" ] && profile=debug

# The bundler and `bundle.linux.deb.files` expect the binaries under ./target/release.
export CARGO_TARGET_DIR="$PWD/target"
CARGO=${CARGO:-cargo}

if [ ! -f ui/dist/index.html ]; then
  echo "deb: building the UI"
  (cd ui && npm run build)
fi

bundle_args=(--bundles deb --ci)
if [ "$profile" = release ]; then
  # custom-protocol is what `tauri build` would enable: the window serves the UI that
  # generate_context! embedded from ui/dist instead of looking for a dev server.
  echo "deb: building release binaries (hearth-desktop, hearth)"
  nice -n 10 "$CARGO" build --release -p hearth-desktop -p hearth --bins \
    --features tauri/custom-protocol
else
  echo "deb: building debug binaries (hearth-desktop, hearth)"
  "$CARGO" build -p hearth-desktop -p hearth --bins
  bundle_args+=(--debug --config
    '{"bundle":{"linux":{"deb":{"files":{"/usr/bin/hearth":"target/debug/hearth","/usr/share/hearth/ui":"ui/dist"}}}}}')
fi

for bin in hearth-desktop hearth; do
  [ -x "target/$profile/$bin" ] || { echo "deb: target/$profile/$bin was not built" >&2; exit 1; }
done

echo "deb: bundling with @tauri-apps/cli@$TAURI_CLI_VERSION"
out=target/$profile/bundle/deb
rm -f "$out"/*.deb
npx --yes "@tauri-apps/cli@$TAURI_CLI_VERSION" bundle "${bundle_args[@]}"

shopt -s nullglob
debs=("$out"/*.deb)
if [ ${#debs[@]} -ne 1 ]; then
  echo "deb: expected one .deb in $out, found ${#debs[@]}" >&2
  exit 1
fi
echo "deb: built ${debs[0]}"
