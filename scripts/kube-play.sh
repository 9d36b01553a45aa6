#!/usr/bin/env bash
# A real run of the Kubernetes pod spec: the dev overlay rendered by
# `kubectl kustomize`, its app Deployment and ConfigMap run by
# `podman kube play` against a MySQL container, then checked:
# - the pod becomes ready (/readyz) and serves GET /api/products;
# - it runs as the non-root user (65532) with a read-only root;
# - `podman kube down` stops it, leaving no container behind.
#
# Needs podman (the stack test's engine) and the app's image, built by
# `docker compose build` as catalog:latest (CATALOG_IMAGE names another),
# and the database image mysql:8.4. What podman does not do, and what
# checks it instead:
# - readiness and startup probes, the preStop sleep, the
#   HorizontalPodAutoscaler, the PodDisruptionBudget, the NetworkPolicy,
#   topology spread and the Service are not run by podman: they are
#   validated (scripts/kubernetes.sh), and the drain they time is
#   measured by tests/proxy/rolling.rs;
# - podman 4.3 cannot feed a Kubernetes Secret to envFrom (it expects its
#   own secret format), so the rendered Secret's values are passed as the
#   container's env instead; the image is the local build, never pulled.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v podman >/dev/null 2>&1 || { echo "error: podman is not installed" >&2; exit 1; }
root=deploy/kubernetes
venv=$root/.venv
[ -x "$venv/bin/kubectl" ] || scripts/kubernetes.sh >/dev/null
image=${CATALOG_IMAGE:-catalog:latest}
work=$(mktemp -d)
suffix=$$
network=catalog-kube-$suffix
database=catalog-kube-db-$suffix
played=""

cleanup() {
    if [ -n "$played" ]; then
        podman kube down "$work/pod.yaml" >/dev/null 2>&1 || true
    fi
    podman rm -f "$database" >/dev/null 2>&1 || true
    podman network rm -f "$network" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL $*" >&2
    podman logs "$container" 2>&1 | tail -20 >&2 || true
    exit 1
}

echo "==> kube play: render the dev overlay"
cp -r "$root/base" "$root/overlays" "$work/"
password=$(openssl rand -hex 16)
{
    echo "DATABASE_URL=mysql://catalog:$password@$database:3306/catalog"
    echo "JWT_SECRET_KEY=$(openssl rand -hex 32)"
    echo "ADMIN_PASSWORD="
} >"$work/overlays/dev/secrets.env"
printf 'MYSQL_PASSWORD=%s\nMYSQL_ROOT_PASSWORD=%s\n' "$password" "$(openssl rand -hex 16)" \
    >"$work/overlays/dev/mysql.env"
"$venv/bin/kubectl" kustomize "$work/overlays/dev" >"$work/rendered.yaml"
"$venv/bin/python" - "$work/rendered.yaml" "$work/pod.yaml" "$image" <<'PY'
import base64, sys, yaml
rendered, out, image = sys.argv[1:]
docs = [doc for doc in yaml.safe_load_all(open(rendered)) if doc]
app = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "catalog"]
assert len(app) == 1, "one app Deployment"
deployment = app[0]
container = deployment["spec"]["template"]["spec"]["containers"][0]
secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
env = []
for source in container["envFrom"]:
    if "secretRef" in source:
        data = secrets[source["secretRef"]["name"]]["data"]
        env += [{"name": k, "value": base64.b64decode(v).decode()} for k, v in data.items()]
container["envFrom"] = [s for s in container["envFrom"] if "secretRef" not in s]
container["env"] = env
container["image"] = image
container["imagePullPolicy"] = "Never"
deployment["spec"]["replicas"] = 1
configs = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("catalog-config")]
yaml.safe_dump_all(configs + [deployment], open(out, "w"), sort_keys=False)
PY

echo "==> kube play: a database container"
podman network create "$network" >/dev/null
podman run -d --name "$database" --network "$network" \
    -e MYSQL_DATABASE=catalog -e MYSQL_USER=catalog -e MYSQL_PASSWORD="$password" \
    -e MYSQL_ROOT_PASSWORD="$(openssl rand -hex 16)" \
    mysql:8.4 --character-set-server=utf8mb4 --collation-server=utf8mb4_bin >/dev/null
for _ in $(seq 90); do
    podman exec "$database" mysql -h 127.0.0.1 -ucatalog -p"$password" -e 'SELECT 1' catalog \
        >/dev/null 2>&1 && break
    sleep 1
done

echo "==> podman kube play"
podman kube play --network "$network" "$work/pod.yaml" >/dev/null
played=1
pod=$(podman pod ps --format '{{.Name}}' | grep '^catalog-pod' | head -1)
container="$pod-catalog"
ready=""
for _ in $(seq 90); do
    if podman exec "$container" /usr/local/bin/catalog healthcheck >/dev/null 2>&1; then
        ready=1
        break
    fi
    sleep 1
done
[ -n "$ready" ] || fail "the pod never answered /readyz"
echo "PASS the pod is ready (/readyz)"
podman exec "$container" /usr/local/bin/catalog healthcheck \
    --url http://127.0.0.1:8080/api/products >/dev/null || fail "GET /api/products"
echo "PASS it serves GET /api/products"
user=$(podman inspect "$container" --format '{{.Config.User}}')
[ "${user%%:*}" = 65532 ] || fail "it runs as $user, not 65532"
pid=$(podman inspect "$container" --format '{{.State.Pid}}')
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[ "$uid" = 65532 ] || fail "its process runs as uid $uid"
echo "PASS it runs as the non-root user (user $user, process uid $uid)"
[ "$(podman inspect "$container" --format '{{.HostConfig.ReadonlyRootfs}}')" = true ] ||
    fail "its root filesystem is writable"
echo "PASS its root filesystem is read-only"

echo "==> podman kube down"
podman kube down "$work/pod.yaml" >/dev/null || fail "podman kube down"
played=""
left=$(podman ps -a --format '{{.Names}}' | grep -c "^$pod" || true)
[ "$left" = 0 ] || fail "$left containers of $pod are left"
echo "PASS podman kube down stops it and leaves no container"
