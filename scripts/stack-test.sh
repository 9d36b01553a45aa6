#!/usr/bin/env bash
# End-to-end test of the Compose stack, the way a new user runs it: a
# scratch copy of the project with a fresh .env (random secrets, a free
# HTTP_PORT), `docker compose up -d --build`, then checks through nginx:
# the user flow (signup, login, create, list, get, delete, refresh),
# problem+json errors, security headers, 413 and 429; the app
# container's hardening (from `docker inspect`); two replicas serving,
# and the monitoring profile's Prometheus scraping both; data kept across
# `down` and `up -d`; the replicas profile's read replica, seeded from the
# primary and serving the public catalog. Everything is torn down,
# volumes included, whatever happens.
#
# Needs Docker (or a Docker-compatible engine) with Compose v2, curl and
# jq. Prints each check, then "N passed, N failed"; exits 1 if any failed.
#
#   scripts/stack-test.sh            # from anywhere in the project
#   STACK_TEST_KEEP=1 scripts/...    # leave the stack up for a look
#   PROMETHEUS_STANDIN_BASE=IMAGE    # where prom/prometheus cannot be pulled:
#                                    # build a stand-in on this Debian image
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
project_dir=$PWD

for tool in docker curl jq; do
    command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is not installed" >&2; exit 2; }
done
docker compose version >/dev/null 2>&1 || { echo "error: 'docker compose' (Compose v2) is not available" >&2; exit 2; }
docker info >/dev/null 2>&1 || { echo "error: no Docker engine answers (docker info failed)" >&2; exit 2; }

passed=0
failed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    local description=$1
    shift
    if "$@"; then pass "$description"; else fail "$description"; fi
}
# verdict STATUS DESCRIPTION: passes when STATUS (of a compound
# condition just evaluated, as in `[ a ] && [ b ]; verdict $? ...`) is 0.
verdict() {
    if [ "$1" -eq 0 ]; then pass "$2"; else fail "$2"; fi
}
random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# 1. A scratch copy: the project's files as they are now (committed or
#    not, ignored ones left out), with a .env made as the README says.
work=$(mktemp -d "${TMPDIR:-/tmp}/catalog-stack-test.XXXXXX")
copy="$work/catalog"
mkdir -p "$copy"
if git -C "$project_dir" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$project_dir" ls-files -z --cached --others --exclude-standard |
        (cd "$project_dir" && xargs -0 tar -cf - 2>/dev/null) | tar -xf - -C "$copy"
else
    tar -C "$project_dir" --exclude=./target --exclude=./.env -cf - . | tar -xf - -C "$copy"
fi
cd "$copy" || exit 2
project="catalogstacktest$(random_hex 4)"
export COMPOSE_PROJECT_NAME=$project
port=${STACK_TEST_PORT:-}
if [ -z "$port" ]; then
    for candidate in $(seq 18080 18180); do
        port_in_use "$candidate" || { port=$candidate; break; }
    done
fi
cp .env.example .env
chmod 600 .env
sed -i.orig \
    -e "s|^MYSQL_PASSWORD=\$|MYSQL_PASSWORD=$(random_hex 24)|" \
    -e "s|^MYSQL_ROOT_PASSWORD=\$|MYSQL_ROOT_PASSWORD=$(random_hex 24)|" \
    -e "s|^JWT_SECRET_KEY=\$|JWT_SECRET_KEY=$(random_hex 48)|" \
    .env && rm -f .env.orig
echo "HTTP_PORT=$port" >>.env
base="http://127.0.0.1:$port"

teardown() {
    if [ -n "${STACK_TEST_KEEP:-}" ]; then
        echo "==> left running: project $project in $copy, $base"
        return
    fi
    echo "==> tearing down (project $project, volumes included)"
    (cd "$copy" && docker compose --profile monitoring --profile replicas down -v --remove-orphans \
        --timeout 10 >/dev/null 2>&1)
    rm -rf "$work"
}
finish() {
    local status=$?
    teardown
    echo "$passed passed, $failed failed"
    if [ "$failed" -gt 0 ] || [ "$status" -ne 0 ]; then exit 1; fi
    exit 0
}
trap finish EXIT

wait_ready() {
    local seconds=$1
    for _ in $(seq "$seconds"); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ] && return 0
        sleep 1
    done
    return 1
}
# healthy_count SERVICE: how many of its containers are healthy.
healthy_count() {
    local ids
    ids=$(docker compose ps -q "$1")
    [ -n "$ids" ] || { echo 0; return; }
    # shellcheck disable=SC2086 # one id per word
    docker inspect --format '{{.State.Health.Status}}' $ids | grep -c '^healthy$'
}
wait_healthy() {
    local service=$1 want=$2 seconds=$3
    for _ in $(seq "$seconds"); do
        [ "$(healthy_count "$service")" -ge "$want" ] && return 0
        sleep 1
    done
    return 1
}

# request METHOD PATH [curl args...]: the status into $status, headers
# into $headers, the body into $body_file.
headers="$work/headers"
body_file="$work/body"
request() {
    local method=$1 path=$2
    shift 2
    status=$(curl -s -X "$method" -D "$headers" -o "$body_file" -w '%{http_code}' "$@" "$base$path")
}
header() { grep -i "^$1:" "$headers" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
is_problem() { [ "$(header Content-Type)" = "application/problem+json" ] && jq -e '.status and .title and .request_id' "$body_file" >/dev/null; }
json() { jq -r "$1" "$body_file"; }

# 2. Up, as the README says.
echo "==> docker compose up -d --build (project $project, port $port)"
started=$SECONDS
if ! docker compose up -d --build >"$work/up.log" 2>&1; then
    tail -40 "$work/up.log"
    fail "docker compose up -d --build"
    exit 1
fi
echo "    took $((SECONDS - started))s"
check "ready through nginx" wait_ready 180

# 3. What users do, through nginx.
user="stack$(random_hex 4)"
password="correct horse battery $(random_hex 4)"
signup=$(jq -n --arg u "$user" --arg p "$password" '{username: $u, email: ($u + "@example.com"), password: $p}')
request POST /api/auth/signup -H 'content-type: application/json' -d "$signup"
check "signup 201 ($status)" [ "$status" = 201 ]
request POST /api/auth/login -H 'content-type: application/json' \
    -d "$(jq -n --arg u "$user" --arg p "$password" '{username: $u, password: $p}')"
check "login 200 ($status)" [ "$status" = 200 ]
access=$(json .access_token)
refresh=$(json .refresh_token)
auth=(-H "authorization: Bearer $access")

request POST /api/products "${auth[@]}" -H 'content-type: application/json' \
    -d '{"name": "Espresso cup ☕", "price": 19.99, "description": "kept across restarts"}'
[ "$status" = 201 ] && [ "$(header Location)" = "/api/products/$(json .id)" ]
verdict $? "create 201 with Location ($status, $(header Location))"
kept_id=$(json .id)
check "price round-trips as 19.99 ($(json .price))" [ "$(json .price)" = 19.99 ]
request POST /api/products "${auth[@]}" -H 'content-type: application/json' -d '{"name": "Short-lived", "price": 1}'
doomed_id=$(json .id)
request GET "/api/products?limit=10"
[ "$status" = 200 ] && [ "$(json "[.items[].id] | contains([$kept_id, $doomed_id])")" = true ]
verdict $? "list 200 with both ($status)"
request GET /api/products/my "${auth[@]}"
[ "$status" = 200 ] && [ "$(json '.items | length')" = 2 ]
verdict $? "list mine 200 ($status, $(json '.items | length') items)"
request GET "/api/products/$kept_id"
[ "$status" = 200 ] && [ "$(json .owner.username)" = "$user" ]
verdict $? "get 200 with its owner ($status)"
request DELETE "/api/products/$doomed_id" "${auth[@]}"
check "delete 204 ($status)" [ "$status" = 204 ]
request GET "/api/products/$doomed_id"
[ "$status" = 404 ] && is_problem
verdict $? "get deleted: 404 problem+json ($status)"

# The operator's command line in the app's container, as the README's
# Administration section says: it promotes the user, whose token then
# works as an admin's through nginx, and the audit trail names the
# operator.
promoted=$(docker compose exec -T app catalog admin promote "$user" 2>&1)
check "catalog admin promote in the app container (${promoted:-no output})" \
    grep -q "is an admin" <<<"$promoted"
request GET "/api/admin/users?q=$user" "${auth[@]}"
[ "$status" = 200 ] && [ "$(json '.items[0].role')" = admin ]
verdict $? "the promoted user lists users through nginx ($status, $(json '.items[0].role'))"
request GET "/api/admin/audit?target=user:$(json '.items[0].id')" "${auth[@]}"
actor=$(json '.items[0].actor')
[ "$status" = 200 ] && [[ "$actor" == cli:* ]]
verdict $? "the audit trail names the operator ($status, $actor)"
request POST /api/auth/refresh -H "authorization: Bearer $refresh"
[ "$status" = 200 ] && [ "$(json .refresh_token)" != "$refresh" ]
verdict $? "refresh 200 with a new pair ($status)"

# 4. Errors and headers.
request POST /api/products "${auth[@]}" -H 'content-type: application/json' -d '{"name": "x", "price": 1.234}'
[ "$status" = 400 ] && is_problem && [ "$(json .field)" = price ]
verdict $? "bad price: 400 problem+json naming price ($status, $(json .field))"
request GET /api/products/my
[ "$status" = 401 ] && is_problem
verdict $? "no token: 401 problem+json ($status)"
request GET /no/such/route
[ "$status" = 404 ] && is_problem
verdict $? "unknown route: 404 problem+json ($status)"
big=$(head -c 70000 /dev/zero | tr '\0' 'a')
request POST /api/products "${auth[@]}" -H 'content-type: application/json' \
    -d "{\"name\": \"big\", \"price\": 1, \"description\": \"$big\"}"
[ "$status" = 413 ] && is_problem
verdict $? "70 KB body: 413 problem+json ($status)"
request GET /api/docs
check "Swagger UI 200 ($status)" [ "$status" = 200 ]
for name in X-Content-Type-Options X-Frame-Options Content-Security-Policy Referrer-Policy X-Request-Id; do
    check "header $name on /api/docs" [ -n "$(header "$name")" ]
done
check "Server header hides the version ($(header Server))" [ "$(header Server)" = nginx ]

# 5. The app container's hardening.
app_id=$(docker compose ps -q app | head -1)
inspect() { docker inspect --format "$1" "$app_id"; }
app_user=$(inspect '{{.Config.User}}')
[ -n "$app_user" ] && [ "${app_user%%:*}" != root ] && [ "${app_user%%:*}" != 0 ]
verdict $? "app runs as a non-root user ($app_user)"
check "app root filesystem is read-only" [ "$(inspect '{{.HostConfig.ReadonlyRootfs}}')" = true ]
# Compose's `cap_drop: [ALL]` shows as ALL with Docker; engines that list
# each capability instead are checked on the process itself, where the
# engine runs on this host.
cap_drop=$(inspect '{{.HostConfig.CapDrop}}')
cap_add=$(inspect '{{join .HostConfig.CapAdd ","}}')
app_pid=$(inspect '{{.State.Pid}}')
if grep -qiw all <<<"$cap_drop"; then
    [ -z "$cap_add" ]
    verdict $? "app drops every capability (CapDrop $cap_drop, CapAdd ${cap_add:-none})"
elif [ -r "/proc/$app_pid/status" ]; then
    ! grep -E '^Cap(Eff|Prm|Bnd):' "/proc/$app_pid/status" | grep -vq '0000000000000000$'
    verdict $? "app process has no capabilities (CapEff, CapPrm, CapBnd of pid $app_pid)"
else
    fail "app drops every capability (CapDrop $cap_drop, and the process is not visible here)"
fi
grep -q no-new-privileges <<<"$(inspect '{{.HostConfig.SecurityOpt}}')"
verdict $? "app has no-new-privileges"

# 6. Two replicas, both serving.
echo "==> docker compose up -d --scale app=2"
docker compose up -d --scale app=2 >>"$work/up.log" 2>&1
check "two app replicas healthy" wait_healthy app 2 120
docker compose restart nginx >>"$work/up.log" 2>&1
wait_ready 60 >/dev/null
# Each request carries an id of this run; the app logs the ids it serves.
# Each asks for its own URI, so that nginx's micro-cache answers none.
marker="spread-$(random_hex 6)"
for i in $(seq 30); do
    curl -s -o /dev/null -H "X-Request-Id: $marker-$i" "$base/api/products?limit=1&spread=$i"
done
serving=0
for _ in $(seq 15); do # the engine collects container logs asynchronously
    serving=0
    for id in $(docker compose ps -q app); do
        docker logs "$id" 2>&1 | grep -q "$marker" && serving=$((serving + 1))
    done
    [ "$serving" = 2 ] && break
    sleep 1
done
check "requests reach both replicas ($serving of 2 served)" [ "$serving" = 2 ]
# The app believes nginx about the client (TRUSTED_PROXIES covers the
# stack's network): its log names the visitor, not nginx's own address.
nginx_addresses=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' \
    "$(docker compose ps -q nginx)")
client=""
for id in $(docker compose ps -q app); do
    client=$(docker logs "$id" 2>&1 | grep "$marker" | head -n 1 | jq -r '.client // empty' 2>/dev/null)
    [ -n "$client" ] && break
done
# A client address, and none of nginx's.
is_visitor() { [ -n "$1" ] && ! grep -qwF -- "$1" <<<"$2"; }
check "the app logs the client nginx names ($client), not nginx ($nginx_addresses)" \
    is_visitor "$client" "$nginx_addresses"

# 6a. nginx's micro-cache: an anonymous read of a cold key misses, then
# hits; with a token it bypasses the cache, and is never served from it.
cache_status() {
    curl -s -o /dev/null -D - "$@" | tr -d '\r' |
        awk -F': ' 'tolower($1) == "x-cache-status" { print $2 }'
}
probe="$base/api/products?limit=2&probe=$(random_hex 6)"
first=$(cache_status "$probe")
second=$(cache_status "$probe")
check "an anonymous read is cached (MISS then HIT: $first $second)" [ "$first $second" = "MISS HIT" ]
with_token=$(cache_status "${auth[@]}" "$probe")
check "a read with a token bypasses the cache ($with_token)" [ "$with_token" = BYPASS ]
mine=$(cache_status "${auth[@]}" "$base/api/products/my")
never_cached() { [ -z "$1" ] || [ "$1" = BYPASS ]; }
check "the caller's own list is never cached (${mine:-no cache})" never_cached "$mine"
# The access log records how the cache answered; from it, the hit ratio
# of everything the cache had a say in so far.
for _ in $(seq 20); do curl -s -o /dev/null "$probe"; done
cache_log=$(docker compose logs --no-log-prefix nginx 2>/dev/null | grep -o ' cache=[A-Z]\+' || true)
hits=$(grep -c '=HIT$' <<<"$cache_log" || true)
cacheable=$(grep -vc '=BYPASS$' <<<"$cache_log" || true)
echo "    micro-cache: $hits hits of $cacheable cacheable reads in nginx's access log (BYPASS left out)"
check "nginx's access log records the cache's answers ($hits HIT of $cacheable)" \
    [ "$hits" -ge 20 ]

# 6b. The monitoring profile's Prometheus, with both replicas up: it finds
# them through Compose's DNS, scrapes them and loads the alert rules.
# (Grafana is checked as files by scripts/monitoring.sh.) Where its image
# cannot be pulled, PROMETHEUS_STANDIN_BASE names a Debian bookworm image
# to build a stand-in from, with Debian's prometheus package.
prometheus_image=$(docker compose --profile monitoring config --format json | jq -r '.services.prometheus.image')
if ! docker image inspect "$prometheus_image" >/dev/null 2>&1 &&
    ! docker pull -q "$prometheus_image" >/dev/null 2>&1 &&
    [ -n "${PROMETHEUS_STANDIN_BASE:-}" ]; then
    echo "==> building a stand-in for $prometheus_image from Debian's prometheus package"
    mkdir -p "$work/prometheus-standin"
    cat >"$work/prometheus-standin/Dockerfile" <<CONTAINERFILE
FROM $PROMETHEUS_STANDIN_BASE
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus wget \\
    && rm -rf /var/lib/apt/lists/* \\
    && mkdir -p /prometheus && chown nobody:nogroup /prometheus
USER nobody
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CONTAINERFILE
    docker build -q -t "$prometheus_image" "$work/prometheus-standin" >>"$work/up.log" 2>&1
fi
if docker image inspect "$prometheus_image" >/dev/null 2>&1; then
    echo "==> docker compose --profile monitoring up -d prometheus"
    docker compose --profile monitoring up -d --no-deps prometheus >>"$work/up.log" 2>&1
    prometheus_query() {
        docker compose --profile monitoring exec -T prometheus \
            wget -qO- "http://127.0.0.1:9090/api/v1/$1" 2>/dev/null
    }
    scraped=""
    for _ in $(seq 40); do
        scraped=$(prometheus_query 'query?query=count(up%7Bjob%3D%22catalog%22%7D%3D%3D1)' |
            jq -r '.data.result[0].value[1] // empty')
        [ "$scraped" = 2 ] && break
        sleep 2
    done
    check "Prometheus scrapes both replicas (${scraped:-0} of 2 up)" [ "$scraped" = 2 ]
    rules=$(prometheus_query rules | jq '[.data.groups[].rules[]] | length')
    check "Prometheus loaded the alert rules (${rules:-0} of 6)" [ "${rules:-0}" = 6 ]
    # A login now, counted by whichever replica serves it, is seen by the
    # next scrape (every 15 s).
    request POST /api/auth/login -H 'content-type: application/json' \
        -d "$(jq -n --arg u "$user" --arg p "$password" '{username: $u, password: $p}')"
    logins=""
    for _ in $(seq 30); do
        logins=$(prometheus_query 'query?query=sum(catalog_logins_total%7Boutcome%3D%22success%22%7D)' |
            jq -r '.data.result[0].value[1] // empty')
        [ "${logins:-0}" -ge 1 ] 2>/dev/null && break
        sleep 2
    done
    check "it counts logins (${logins:-none} seen)" [ "${logins:-0}" -ge 1 ]
    docker compose --profile monitoring rm -sf prometheus >>"$work/up.log" 2>&1
else
    echo "==> SKIPPED the monitoring profile: $prometheus_image cannot be pulled here," \
        "and PROMETHEUS_STANDIN_BASE names no image to build a stand-in from" >&2
fi

# 6c. The replicas profile: a read replica seeded from the primary and
# following it by GTID; the app reads the public catalog from it, and a
# read with a write's consistency token sees that write.
echo "==> docker compose --profile replicas up -d (a read replica)"
mysql_password=$(sed -n 's/^MYSQL_PASSWORD=//p' .env)
root_password=$(sed -n 's/^MYSQL_ROOT_PASSWORD=//p' .env)
{
    echo "MYSQL_REPLICATION_PASSWORD=$(random_hex 24)"
    echo "DATABASE_REPLICA_URLS=mysql://catalog:$mysql_password@mysql-replica:3306/catalog"
} >>.env
docker compose --profile replicas up -d >>"$work/up.log" 2>&1
check "the replica is healthy" wait_healthy mysql-replica 1 240
check "ready through nginx with the replica" wait_ready 180
on_replica() {
    docker compose --profile replicas exec -T mysql-replica \
        mysql -uroot -p"$root_password" -N -e "$1" 2>/dev/null | tr -d '\r'
}
request POST /api/products "${auth[@]}" -H 'content-type: application/json' \
    -d '{"name": "Replicated lamp", "price": 3}'
token=$(header Catalog-Consistency)
replicated_id=$(json .id)
[ "$status" = 201 ] && [ -n "$token" ]
verdict $? "a create answers a consistency token ($status)"
request GET "/api/products/$replicated_id" -H "catalog-consistency: $token"
[ "$status" = 200 ] && [ "$(json .name)" = "Replicated lamp" ]
verdict $? "a read with its token sees it ($status)"
copied=""
for _ in $(seq 30); do
    copied=$(on_replica "SELECT COUNT(*) FROM catalog.products WHERE id = $replicated_id")
    [ "$copied" = 1 ] && break
    sleep 1
done
check "the replica has the new product (${copied:-no answer})" [ "$copied" = 1 ]
check "the replica is read-only" [ "$(on_replica 'SELECT @@read_only')" = 1 ]
# Reads on the replica show in its statement counter (the app's status
# checks are SHOW statements, not SELECTs). Compose recreates the primary
# too here, and the app skips the replica while its replication
# reconnects for longer than DATABASE_REPLICA_MAX_LAG_SECS: ten reads at
# a time, until they land there (up to a minute).
selects() { on_replica "SHOW GLOBAL STATUS LIKE 'Com_select'" | awk '{print $2}'; }
served=1
for _ in $(seq 20); do
    before=$(selects)
    for i in $(seq 10); do
        curl -s -o /dev/null "$base/api/products?limit=1&replica=$i$(random_hex 3)"
    done
    after=$(selects)
    if [ -n "$before" ] && [ -n "$after" ] && [ $((after - before)) -ge 10 ]; then
        served=0
        break
    fi
    sleep 3
done
verdict "$served" "anonymous reads are served by the replica (${before:-?} -> ${after:-?} SELECTs there)"
if [ "$served" -ne 0 ]; then
    docker compose --profile replicas logs --no-log-prefix app 2>/dev/null | grep -i replica | tail -5
fi
docker compose --profile replicas rm -sf mysql-replica >>"$work/up.log" 2>&1
sed -i.orig -e '/^MYSQL_REPLICATION_PASSWORD=/d' -e '/^DATABASE_REPLICA_URLS=/d' .env && rm -f .env.orig

# 7. Down and up again: the data stays.
echo "==> docker compose down; docker compose up -d"
docker compose down >>"$work/up.log" 2>&1
docker compose up -d >>"$work/up.log" 2>&1
check "ready again after down and up" wait_ready 180
request GET "/api/products/$kept_id"
[ "$status" = 200 ] && [ "$(json .name)" = "Espresso cup ☕" ]
verdict $? "the product is still there ($status)"
request POST /api/auth/login -H 'content-type: application/json' \
    -d "$(jq -n --arg u "$user" --arg p "$password" '{username: $u, password: $p}')"
check "the account can still log in ($status)" [ "$status" = 200 ]

# 8. The login rate limit (last: it locks this address out of logins).
limited=""
for attempt in $(seq 1 25); do
    request POST /api/auth/login -H 'content-type: application/json' -d '{"username": "nobody", "password": "x"}'
    if [ "$status" = 429 ]; then limited=$attempt; break; fi
done
check "429 after repeated logins (at attempt ${limited:-none})" [ -n "$limited" ]
is_problem && [ -n "$(header Retry-After)" ]
verdict $? "429 is problem+json with Retry-After ($(header Retry-After))"
