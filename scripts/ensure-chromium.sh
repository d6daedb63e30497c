#!/usr/bin/env bash
# The console tests drive Debian's headless Chromium through Playwright (never Playwright's own
# browser downloads). Install it when it is missing and we may: as root, with apt-get.
set -euo pipefail

CHROMIUM="${LLMRELAY_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "ensure-chromium: $CHROMIUM is missing and this is not a root Debian shell;" \
       "the console tests will be skipped (apt-get install chromium to run them)" >&2
  exit 0
fi
echo "ensure-chromium: installing Debian's chromium for the console tests" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
  echo "ensure-chromium: could not install chromium; the console tests will be skipped" \
       "(or fail, with LLMRELAY_REQUIRE_SERVICES=1)" >&2
fi
