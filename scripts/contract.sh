#!/usr/bin/env bash
# Contract checks with tools nobody here wrote, against the live service:
#   1. Redocly lints openapi/openapi.json with contract/redocly.yaml;
#   2. SDKs generated from the committed spec (openapi-python-client and
#      @hey-api/openapi-ts) run the same scenario;
#   3. Swagger UI in Debian's Chromium (driven by playwright-core) can
#      authorize and call GET /api/products/my, directly and through nginx;
#   4. Schemathesis runs every check, positive and negative data, and
#      stateful link-following, with a pinned seed.
# Tool versions are pinned in contract/package-lock.json and
# contract/requirements.txt. Generated code goes to contract/generated/
# (ignored). The database is a replicating MariaDB primary and replica of
# its own (scripts/replica-pair.sh), so the scenarios' consistency tokens
# are real GTID positions and their reads may be served by the replica.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/common.sh
source scripts/common.sh
CONTRACT=contract
work=$(mktemp -d)
app_pid=""
nginx_pid=""
database="catalog_contract_$$"

cleanup() {
    for pid in $nginx_pid $app_pid; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    scripts/replica-pair.sh stop "$work/pair" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT


timings=()
step_start=0
step() {
    step_start=$(date +%s)
    echo "==> contract: $1"
}
step_done() {
    timings+=("$(printf '%4ss  %s' "$(($(date +%s) - step_start))" "$1")")
}

started=$(date +%s)

step "tools"
for tool in node npm python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done
chromium=$(printenv CHROMIUM || echo /usr/bin/chromium)
[ -x "$chromium" ] || { echo "error: Chromium is not installed (Debian: apt-get install chromium)" >&2; exit 1; }
lock_sum=$(sha256sum "$CONTRACT/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$CONTRACT/node_modules/.lock-sha256" 2>/dev/null)" != "$lock_sum" ]; then
    npm ci --prefix "$CONTRACT" --no-fund --no-audit --loglevel=error
    echo "$lock_sum" > "$CONTRACT/node_modules/.lock-sha256"
fi
[ -x "$CONTRACT/.venv/bin/python" ] || python3 -m venv "$CONTRACT/.venv"
"$CONTRACT/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$CONTRACT/requirements.txt"
step_done "install pinned tools (npm ci, pip)"

step "service"
cargo build --quiet --bin catalog
pair=$(scripts/replica-pair.sh start "$work/pair")
DB_SERVER=$(sed -n 's/^PRIMARY_URL=//p' <<<"$pair")
replica=$(sed -n 's/^REPLICA_URL=//p' <<<"$pair")
sql "CREATE DATABASE \`$database\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
port=$(free_port)
base="http://127.0.0.1:$port"
# The admin the scenarios and Schemathesis log in as (`admin`).
CATALOG_ADMIN_PASSWORD="contract-admin-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export CATALOG_ADMIN_PASSWORD
ADMIN_PASSWORD="$CATALOG_ADMIN_PASSWORD" \
    DATABASE_URL="$DB_SERVER/$database" DATABASE_REPLICA_URLS="$replica/$database" \
    JWT_SECRET_KEY="contract-$(python3 -c 'import secrets; print(secrets.token_hex(32))')" \
    LISTEN_ADDR="127.0.0.1:$port" METRICS_ADDR=127.0.0.1:0 \
    LOGIN_MAX_FAILURES=1000000 LOGIN_MAX_FAILURES_PER_ACCOUNT=1000000 \
    LOGIN_MAX_FAILURES_PER_CLIENT=1000000 SIGNUP_MAX_PER_CLIENT=1000000 \
    RUST_LOG=warn \
    target/debug/catalog serve > "$work/app.log" 2>&1 &
app_pid=$!
wait_for "$base/readyz"
step_done "build and start the service (on a primary and a replica)"

step "spec lint (Redocly)"
(cd "$CONTRACT" && npx --no-install redocly lint ../openapi/openapi.json --config redocly.yaml --format=stylish 2>&1 |
    grep -v -e '║' -e '╔' -e '╚')
step_done "spec lint"

step "Python SDK (openapi-python-client)"
rm -rf "$CONTRACT/generated/python"
(cd "$CONTRACT" && .venv/bin/openapi-python-client generate --path ../openapi/openapi.json \
    --output-path generated/python --config openapi-python-client.yaml --overwrite >/dev/null)
PYTHONPATH="$CONTRACT/generated/python" "$CONTRACT/.venv/bin/python" "$CONTRACT/sdk/python_scenario.py" "$base"
step_done "Python SDK: generate and run the scenario"

step "TypeScript SDK (@hey-api/openapi-ts)"
rm -rf "$CONTRACT/generated/ts"
(cd "$CONTRACT" && npx --no-install openapi-ts -f openapi-ts.config.mjs >/dev/null &&
    npx --no-install tsc -p tsconfig.json &&
    npx --no-install tsx sdk/scenario.ts "$base")
step_done "TypeScript SDK: generate, type-check and run the scenario"

step "Swagger UI in Chromium"
CHROMIUM=$chromium node "$CONTRACT/browser/swagger-ui.mjs" "$base"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
if [ -x "$nginx_bin" ]; then
    nginx_port=$(free_port)
    scripts/nginx-local.sh "$work/nginx" "127.0.0.1:$port" "127.0.0.1:$nginx_port"
    "$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
    nginx_pid=$!
    wait_for "http://127.0.0.1:$nginx_port/healthz"
    CHROMIUM=$chromium node "$CONTRACT/browser/swagger-ui.mjs" "http://127.0.0.1:$nginx_port"
else
    echo "error: nginx is not installed (Debian: apt-get install nginx-light)" >&2
    exit 1
fi
step_done "Swagger UI in Chromium, direct and through nginx"

step "Schemathesis"
(cd "$CONTRACT" && CATALOG_BASE_URL="$base" SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH=. \
    .venv/bin/schemathesis --config-file schemathesis.toml run ../openapi/openapi.json \
    --url "$base" --no-color)
step_done "Schemathesis (all checks, positive and negative, stateful)"

echo "==> contract checks passed in $(($(date +%s) - started))s"
printf '    %s\n' "${timings[@]}"
