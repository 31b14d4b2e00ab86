#!/usr/bin/env bash
# Fetches axe-core (the accessibility rules of the browser tests, docs/web.md § Accessibility) from
# npm at the version of tests/e2e/axe-core.env into $CDDS_CACHE_DIR/axe-core-<version>/axe.min.js
# (default ~/.cache/cdds), where tests/e2e/a11y.py finds it. Idempotent: a second when cached.
# The tarball must match the pinned sha512 integrity (npm checks the registry's, we check ours).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../tests/e2e/axe-core.env
. "$REPO_ROOT/tests/e2e/axe-core.env"
CACHE_DIR="${CDDS_CACHE_DIR:-$HOME/.cache/cdds}"
target="$CACHE_DIR/axe-core-$AXE_CORE_VERSION"

log() { printf 'axe-core: %s\n' "$*" >&2; }

[ -f "$target/axe.min.js" ] && exit 0
command -v npm >/dev/null || { log "npm is required to fetch axe-core (Debian package npm)"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "fetching axe-core $AXE_CORE_VERSION from npm"
(cd "$work" && npm pack --silent "axe-core@$AXE_CORE_VERSION" >/dev/null)
tarball="$work/axe-core-$AXE_CORE_VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$AXE_CORE_INTEGRITY" ]; then
  log "axe-core-$AXE_CORE_VERSION.tgz is not the pinned one: integrity $actual, expected $AXE_CORE_INTEGRITY"
  exit 1
fi
mkdir -p "$work/out" "$CACHE_DIR"
tar -xzf "$tarball" -C "$work/out" package/axe.min.js package/LICENSE package/package.json
# Renamed into place in one step (same file system): an interrupted fetch leaves no half copy.
mv "$work/out/package" "$work/axe-core-$AXE_CORE_VERSION"
rm -rf "$target.tmp" "$target"
mv "$work/axe-core-$AXE_CORE_VERSION" "$target.tmp"
mv "$target.tmp" "$target"
log "ready: $target/axe.min.js"
