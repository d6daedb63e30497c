#!/usr/bin/env bash
# The client tests drive the real Claude Code and Codex CLIs, pinned in tests/clients/package.json
# and package-lock.json. Install them with `npm ci` when tests/clients/node_modules is missing or
# was installed from another lock file; otherwise do nothing, so repeated `make test` runs are
# fast. npm's own cache (~/.npm) makes a reinstall quick and offline-first. This never fails
# `make test`: without npm or the registry it says why, and the client tests then skip (or fail,
# with LLMRELAY_REQUIRE_SERVICES=1).
set -uo pipefail

DIR="$(cd "$(dirname "$0")/../tests/clients" && pwd)"
STAMP="$DIR/node_modules/.llmrelay-lock-sha256"

lock_digest() {
  sha256sum "$DIR/package-lock.json" | cut -d' ' -f1
}

installed() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(lock_digest)" ] &&
    "$DIR/node_modules/.bin/claude" --version >/dev/null 2>&1 &&
    "$DIR/node_modules/.bin/codex" --version >/dev/null 2>&1
}

if installed; then
  exit 0
fi
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "ensure-clis: node and npm are not installed; the Claude Code and Codex client tests" \
       "will be skipped (or fail, with LLMRELAY_REQUIRE_SERVICES=1)" >&2
  exit 0
fi
echo "ensure-clis: installing the pinned Claude Code and Codex CLIs (npm ci in tests/clients)" >&2
if ! (cd "$DIR" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error >&2); then
  echo "ensure-clis: npm ci failed (is the npm registry reachable?); the client tests" \
       "will be skipped (or fail, with LLMRELAY_REQUIRE_SERVICES=1)" >&2
  exit 0
fi
lock_digest >"$STAMP"
if ! installed; then
  echo "ensure-clis: the CLIs were installed but do not start (claude --version or" \
       "codex --version failed); the client tests will say why" >&2
fi
exit 0
