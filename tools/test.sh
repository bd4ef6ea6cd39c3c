#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing, builds, and runs every test through ctest (C unit tests, busted
# specs, integration tests against a throwaway PostgreSQL, lint).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
tools/build.sh
ctest --test-dir build --output-on-failure -j2
