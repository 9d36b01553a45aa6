#!/usr/bin/env bash
# Benchmarks against the real service and a real database (release
# build): `auth` (login throughput, latency under a login flood, timing
# parity), `pages` (the catalog's pages at 20 and 1,000,000 products
# against the raw driver bound), `catalog` (every sort's first and deep
# page, a search and a price filter at 1,000,000 products, with their
# query plans) and `memory` (the release binary's RSS through list
# requests and a login flood). With no argument, all four. Uses
# TEST_DATABASE_URL, else the server on 127.0.0.1:3306 as root; each
# creates and drops its own database. BENCH_SECONDS sets the length of
# each `pages` run (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-mysql://root@127.0.0.1:3306}"
benches=("$@")
[ "${#benches[@]}" -gt 0 ] || benches=(auth pages catalog memory)
for bench in "${benches[@]}"; do
    case "$bench" in
        auth | pages | catalog | memory) cargo bench --bench "$bench" ;;
        *)
            echo "usage: scripts/bench.sh [auth] [pages] [catalog] [memory]" >&2
            exit 2
            ;;
    esac
done
