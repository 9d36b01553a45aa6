#!/usr/bin/env bash
# Benchmarks against the real service and a real database (release
# build): `auth` (login throughput, latency under a login flood, timing
# parity), `pages` (the catalog's pages at 20 and 1,000,000 products
# against the raw driver bound), `catalog` (every search and filter shape
# in every sort, first and 50,000 deep, at 1,000,000 products: latency,
# index entries examined, a 64-connection flood, create and edit),
# `memory` (the release binary's RSS and descriptors through list
# requests, a login flood and 1,100 idle connections) and
# `fairness` (a real user's logins while another address guesses
# passwords; list and login throughput, to compare with another build
# through CATALOG_BINARY) and `caching` (the front page through nginx with
# and without its micro-cache, against the raw driver bound; a Zipf read
# pattern's hit ratio; with CATALOG_BASELINE_BINARY, what page tags and
# cache headers cost) and `replicas` (the front page on a primary alone and
# with a read replica, each server's CPU per page, what a consistency
# token adds, and fallbacks while the replica lags; it starts its own
# replicating pair with scripts/replica-pair.sh). With no argument, all
# seven. Uses
# TEST_DATABASE_URL, else the server on 127.0.0.1:3306 as root; each
# creates and drops its own database. BENCH_SECONDS sets the length of
# each `pages` run (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-mysql://root@127.0.0.1:3306}"
benches=("$@")
[ "${#benches[@]}" -gt 0 ] || benches=(auth pages catalog memory fairness caching replicas)
for bench in "${benches[@]}"; do
    case "$bench" in
        auth | pages | catalog | memory | fairness | caching | replicas) cargo bench --bench "$bench" ;;
        *)
            echo "usage: scripts/bench.sh [auth] [pages] [catalog] [memory] [fairness] [caching] [replicas]" >&2
            exit 2
            ;;
    esac
done
