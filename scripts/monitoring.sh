#!/usr/bin/env bash
# The monitoring checks, with the real tools (Debian's `prometheus`
# package, which brings promtool; curl and jq):
# - promtool checks monitoring/prometheus/prometheus.yml and alerts.yml,
#   and runs the alerts' unit tests (alerts.test.yml: each alert fires on
#   series that should raise it and stays quiet on healthy ones);
# - a real Prometheus scrapes the service (running against its own
#   database) every second; after some traffic, its query API must give
#   the series the traffic made, with the values it made;
# - the Grafana dashboard parses, every query in it names only series the
#   service exports, and its datasource is the provisioned one.
set -euo pipefail
cd "$(dirname "$0")/.."

DB_SERVER=$(printenv TEST_DATABASE_URL || echo mysql://root@127.0.0.1:3306)
# shellcheck source=scripts/common.sh
source scripts/common.sh
for tool in prometheus promtool curl jq; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "error: $tool is not installed (Debian: apt-get install prometheus curl jq)" >&2
        exit 1
    }
done

work=$(mktemp -d)
database="catalog_monitoring_$$"
app_pid=""
prometheus_pid=""
cleanup() {
    for pid in $prometheus_pid $app_pid; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    sql "DROP DATABASE IF EXISTS \`$database\`" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "==> promtool: config, rules, rule tests"
promtool check config monitoring/prometheus/prometheus.yml
promtool check rules monitoring/prometheus/alerts.yml
(cd monitoring/prometheus && promtool test rules alerts.test.yml)

echo "==> a real Prometheus scraping the service"
cargo build --quiet --bin catalog
sql "CREATE DATABASE \`$database\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
port=$(free_port)
metrics_port=$(free_port)
prometheus_port=$(free_port)
base="http://127.0.0.1:$port"
DATABASE_URL="$DB_SERVER/$database" \
    JWT_SECRET_KEY="monitoring-$(python3 -c 'import secrets; print(secrets.token_hex(32))')" \
    LISTEN_ADDR="127.0.0.1:$port" METRICS_ADDR="127.0.0.1:$metrics_port" \
    LOGIN_MAX_FAILURES=5 RUST_LOG=warn \
    target/debug/catalog serve >"$work/app.log" 2>&1 &
app_pid=$!
wait_for "$base/readyz"

cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: catalog
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$prometheus_port" --log.level=warn \
    >"$work/prometheus.log" 2>&1 &
prometheus_pid=$!
wait_for "http://127.0.0.1:$prometheus_port/-/ready"

post() {
    curl -s -o /dev/null -w '%{http_code}' -X POST "$base$1" \
        -H 'content-type: application/json' -d "$2"
}
[ "$(post /api/auth/signup '{"username":"watched","email":"w@example.com","password":"monitoring password"}')" = 201 ]
[ "$(post /api/auth/login '{"username":"watched","password":"monitoring password"}')" = 200 ]
for _ in 1 2; do
    [ "$(post /api/auth/login '{"username":"watched","password":"wrong password"}')" = 401 ]
done
for _ in 1 2 3; do
    curl -sf -o /dev/null "$base/api/products"
done

# The value of an instant query's first sample, or empty.
query() {
    curl -s "http://127.0.0.1:$prometheus_port/api/v1/query" --data-urlencode "query=$1" |
        jq -r '.data.result[0].value[1] // empty'
}
expect() {
    local wanted=$2 got=""
    for _ in $(seq 1 50); do
        got=$(query "$1")
        [ "$got" = "$wanted" ] && { echo "ok  $1 = $got"; return 0; }
        sleep 0.2
    done
    echo "FAIL $1 = ${got:-nothing} (wanted $wanted)" >&2
    return 1
}
expect 'up{job="catalog"}' 1
expect 'catalog_logins_total{outcome="success"}' 1
expect 'catalog_logins_total{outcome="bad_credentials"}' 2
expect 'catalog_signups_total' 1
expect 'catalog_http_requests_total{operation="listProducts",status="2xx"}' 3
expect 'sum(catalog_http_request_duration_seconds_count{operation="listProducts"})' 3
expect 'catalog_http_request_duration_seconds_bucket{operation="listProducts",status="2xx",le="+Inf"}' 3
expect 'catalog_password_hash_seconds_count' 4
expect 'catalog_ready' 1
expect 'catalog_db_pool_max_connections' 10
expect 'count(process_resident_memory_bytes > 1000000)' 1
# The histogram has the operation label and every bucket (14 and +Inf).
expect 'count(catalog_http_request_duration_seconds_bucket{operation="listProducts",status="2xx"})' 15
echo "==> the Grafana dashboard names only series the service exports"
curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt"
python3 - "$work/metrics.txt" monitoring/grafana/dashboards/catalog.json \
    monitoring/grafana/provisioning/datasources/prometheus.yml <<'PY'
import json, re, sys
metrics_text, dashboard_path, datasource_path = sys.argv[1:]
exported = {"up"}
# Recorded only by a service with read replicas, which this one has not
# (tests/outage/replicas.rs checks that such a service exports them).
exported |= {"catalog_db_replica_lag_seconds", "catalog_db_replica_healthy",
             "catalog_db_replica_pool_connections"}
exported |= {"catalog_db_causal_wait_seconds" + suffix for suffix in ("_bucket", "_sum", "_count")}
for line in open(metrics_text):
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split()
        exported.add(name)
        if kind in ("histogram", "summary"):
            exported.update(name + suffix for suffix in ("_bucket", "_sum", "_count"))
uid = re.search(r"^\s*uid:\s*(\S+)", open(datasource_path).read(), re.M).group(1)
dashboard = json.load(open(dashboard_path))
problems, targets = [], 0
for panel in dashboard["panels"]:
    if panel["type"] == "row":
        continue
    if panel.get("datasource", {}).get("uid") != uid:
        problems.append(f"{panel['title']}: datasource is not {uid}")
    for target in panel["targets"]:
        targets += 1
        if target.get("datasource", {}).get("uid") != uid:
            problems.append(f"{panel['title']}: a query's datasource is not {uid}")
        names = set(re.findall(r"\b(?:catalog|process)_[a-z0-9_]+\b|\bup\b", target["expr"]))
        if not names:
            problems.append(f"{panel['title']}: {target['expr']} names no metric")
        for name in names - exported:
            problems.append(f"{panel['title']}: {name} is not exported")
if problems:
    sys.exit("dashboard: " + "; ".join(problems))
print(f"ok  {targets} queries in {len(dashboard['panels'])} panels name exported series, datasource {uid}")
PY

echo "==> monitoring checks passed"
