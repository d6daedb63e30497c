#!/usr/bin/env bash
# The fleet tests (tests/e2e/fleet/) put Debian's nginx in front of three relays, with the
# shipped deploy/nginx/llmrelay.conf. Install it when it is missing and we may: as root, with
# apt-get. nginx-light is enough (the upstream, proxy and map modules are built in); the
# package's own service is not needed (the tests run nginx in a directory of their own).
# This never fails `make test`: without nginx the fleet tests skip (or fail, with
# LLMRELAY_REQUIRE_SERVICES=1) and say why.
set -uo pipefail

NGINX="${LLMRELAY_NGINX:-/usr/sbin/nginx}"
if [ -x "$NGINX" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "ensure-nginx: $NGINX is missing and this is not a root Debian shell;" \
       "the fleet tests will be skipped (apt-get install nginx-light to run them)" >&2
  exit 0
fi
echo "ensure-nginx: installing Debian's nginx-light for the fleet tests" >&2
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d: do not start the package's own nginx on port 80 (Debian's invoke-rc.d asks it).
POLICY=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$POLICY" && chmod +x "$POLICY" && made_policy=1
fi
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx-light >/dev/null; }; then
  echo "ensure-nginx: could not install nginx-light; the fleet tests will be skipped" \
       "(or fail, with LLMRELAY_REQUIRE_SERVICES=1)" >&2
fi
if [ -n "$made_policy" ]; then
  rm -f "$POLICY"
fi
exit 0
