#!/usr/bin/env bash
# Benchmarks authentication against the real service and a real database
# (release build). Uses TEST_DATABASE_URL, else the server on
# 127.0.0.1:3306 as root; creates and drops its own database.
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-mysql://root@127.0.0.1:3306}"
exec cargo bench --bench auth
