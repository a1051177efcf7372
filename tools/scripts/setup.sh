#!/usr/bin/env bash
# Installs what Reelay's local stack and tests need on a fresh Debian machine of this kind:
# a project-local Python venv with a pinned moto server, ffmpeg for generating test videos, the
# console's npm packages and twitter-text bundle, and Chromium for the browser test.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/../.."

MOTO_VERSION="5.2.5"   # verified here (research/local-aws.md)
SAM_VERSION="1.170.0"  # sam validate --lint, sam build
CFN_LINT_VERSION="1.58.0"
OPENAPI_VALIDATOR_VERSION="0.9.0"  # tests/openapi.rs validates docs/openapi.json (OpenAPI 3.1)
CARGO_LAMBDA_VERSION="1.9.2"  # only for `make build` (--build): it brings 400 MB of zig
VENV=.venv

if [ ! -x "$VENV/bin/moto_server" ] || ! "$VENV/bin/python" -c "import moto,sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "setup: creating $VENV with moto[server]==$MOTO_VERSION"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

pip_pin() { # package version: installs unless that exact version is there
  if [ "$("$VENV/bin/pip" show "$1" 2>/dev/null | sed -n 's/^Version: //p')" != "$2" ]; then
    echo "setup: installing $1==$2"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$1==$2"
  fi
}
pip_pin cfn-lint "$CFN_LINT_VERSION"
pip_pin aws-sam-cli "$SAM_VERSION"
pip_pin openapi-spec-validator "$OPENAPI_VALIDATOR_VERSION"
if [ "${1:-}" = "--build" ]; then
  pip_pin cargo-lambda "$CARGO_LAMBDA_VERSION"
fi

# ffmpeg makes test videos; its ffprobe is the X emulator's independent judge of processing.
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  echo "setup: installing ffmpeg (Debian package: ffmpeg and ffprobe) for test videos"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg >/dev/null
fi
# The web console (issue 13): npm's locked packages, and the twitter-text browser bundle that the
# API binary embeds (console/public/vendor, generated, not committed). Rebuilt when missing or
# older than the lock file.
if [ ! -d console/node_modules ] || [ console/package-lock.json -nt console/node_modules/.package-lock.json ]; then
  echo "setup: npm ci in console/"
  (cd console && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -s console/public/vendor/twitter-text.js ] || [ console/package-lock.json -nt console/public/vendor/twitter-text.js ] || [ console/src/twitter-text.js -nt console/public/vendor/twitter-text.js ]; then
  echo "setup: bundling twitter-text for the console"
  (cd console && npm run --silent build)
fi

# Headless Chromium from Debian for the console's browser test (tests/console.rs), driven by
# playwright-core over the DevTools protocol; chromium-driver is there for WebDriver clients.
# The emoji font makes the screenshots show the emoji the count is about.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 || [ ! -d /usr/share/fonts/truetype/noto ]; then
  echo "setup: installing chromium, chromium-driver and fonts-noto-color-emoji (Debian packages) for the browser test"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver fonts-noto-color-emoji >/dev/null
fi
echo "setup: ok (moto $MOTO_VERSION, sam $SAM_VERSION, cfn-lint $CFN_LINT_VERSION in $VENV, $(ffmpeg -version 2>/dev/null | head -1 | cut -d' ' -f1-3), $(chromium --version 2>/dev/null | cut -d' ' -f1-2), node $(node --version))"
