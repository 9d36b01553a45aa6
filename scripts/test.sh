#!/usr/bin/env bash
# The one test command: shell and Rust lints, formatting, and every test:
# unit tests, HTTP tests against a real MySQL-compatible server (also
# through the project's nginx config), the spec snapshot, and the
# deployment checks (user-data script, Compose file); then the
# monitoring checks (scripts/monitoring.sh), the Kubernetes manifests'
# checks (scripts/kubernetes.sh) and the contract checks
# (scripts/contract.sh). Needs nginx, the ShellCheck linter,
# docker-compose, Prometheus and Chromium from Debian's packages, Node.js
# and Python; .ci/run installs the Debian packages.
#
# The server is, in order: $TEST_DATABASE_URL (a mysql:// URL without a
# database name; the user must be able to create databases), a server on
# 127.0.0.1:3306 as root without a password, or a throwaway MySQL 8.4
# container where Docker runs. Each test creates and drops its own
# database on it.
set -euo pipefail
cd "$(dirname "$0")/.."

container=""
# Each stage's time, printed as the stage ends and again, all together,
# when the script exits (pass or fail).
stage_name=""
stage_started=$SECONDS
stage_times=""
stage() {
    end_stage
    stage_name=$1
    stage_started=$SECONDS
    echo "==> $1"
}
end_stage() {
    if [ -n "$stage_name" ]; then
        local took=$((SECONDS - stage_started))
        stage_times+=$(printf '%6ss  %s' "$took" "$stage_name")$'\n'
        stage_name=""
    fi
}
cleanup() {
    end_stage
    if [ -n "$container" ]; then
        docker rm -f "$container" >/dev/null 2>&1 || true
    fi
    if [ -n "$stage_times" ]; then
        echo "==> stage times (${SECONDS}s in all)"
        printf '%s' "$stage_times"
    fi
}
trap cleanup EXIT

port_open() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

if [ -n "${TEST_DATABASE_URL:-}" ]; then
    echo "==> database: TEST_DATABASE_URL"
elif port_open 127.0.0.1 3306; then
    export TEST_DATABASE_URL="mysql://root@127.0.0.1:3306"
    echo "==> database: the server on 127.0.0.1:3306"
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    container="catalog-test-mysql-$$"
    echo "==> database: starting MySQL 8.4 in Docker ($container)"
    docker run -d --rm --name "$container" -p 127.0.0.1:33306:3306 \
        -e MYSQL_ALLOW_EMPTY_PASSWORD=yes mysql:8.4 >/dev/null
    for _ in $(seq 1 90); do
        if docker exec "$container" mysqladmin ping -h 127.0.0.1 --silent >/dev/null 2>&1; then
            break
        fi
        sleep 1
    done
    export TEST_DATABASE_URL="mysql://root@127.0.0.1:33306"
else
    echo "error: no MySQL-compatible server for the tests." >&2
    echo "       Set TEST_DATABASE_URL=mysql://user:password@host:port, start MySQL or" >&2
    echo "       MariaDB on 127.0.0.1:3306 (root, no password), or install Docker." >&2
    exit 1
fi

stage "shellcheck"
if ! command -v shellcheck >/dev/null 2>&1; then
    echo "error: shellcheck is not installed (Debian: apt-get install shellcheck)" >&2
    exit 1
fi
shellcheck scripts/*.sh .ci/run docker/mysql/replica/*.sh

stage "cargo fmt --check"
cargo fmt --check

# `external-tools` adds the test targets that run nginx and the
# deployment tools (tests/proxy, tests/deploy); plain `cargo test` leaves
# them out, so it needs only Rust and the database.
stage "cargo clippy --all-targets --all-features -- -D warnings"
cargo clippy --all-targets --all-features -- -D warnings

stage "tests (unit, HTTP, connections, query plans, nginx, spec snapshot, deployment)"
# The tests run in a session of their own, so that anything they start
# (the service binary, nginx and its workers) can be found afterwards even
# if it was orphaned: a process left in that session fails the run.
session_file=$(mktemp)
tests_status=0
if cargo nextest --version >/dev/null 2>&1; then
    runner=(cargo nextest run --all-features --no-fail-fast)
else
    runner=(cargo test --all-features --no-fail-fast)
fi
# shellcheck disable=SC2016 # $$ belongs to the inner shell
setsid --wait bash -c 'echo $$ >"$0"; exec "$@"' "$session_file" "${runner[@]}" || tests_status=$?
session=$(cat "$session_file")
rm -f "$session_file"
sleep 1
# Zombies are left out: they have exited and hold nothing; one whose
# parent has gone waits for init to collect it.
leftovers=$(ps -eo pid=,sid=,stat=,args= | awk -v sid="$session" '$2 == sid && $3 !~ /^Z/')
if [ -n "$leftovers" ]; then
    echo "error: the tests left processes running:" >&2
    echo "$leftovers" >&2
    echo "$leftovers" | awk '{print $1}' | xargs -r kill -KILL 2>/dev/null || true
    tests_status=1
fi
[ "$tests_status" -eq 0 ] || exit "$tests_status"

stage "monitoring checks (promtool, a real Prometheus scraping the service)"
scripts/monitoring.sh

stage "Kubernetes manifests (kustomize, strict validation, checkov)"
scripts/kubernetes.sh

stage "contract checks (spec lint, generated SDKs, Swagger UI in Chromium, Schemathesis)"
scripts/contract.sh
