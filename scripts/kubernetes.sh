#!/usr/bin/env bash
# The Kubernetes manifests (deploy/kubernetes), checked with real tools
# pinned in deploy/kubernetes/requirements.txt (installed into
# deploy/kubernetes/.venv):
# - no secrets.env or mysql.env is committed, and the committed examples
#   hold no value;
# - what the production overlay takes from monitoring/ (the
#   PrometheusRule, the dashboard) is what scripts/render-kubernetes.sh
#   renders from it now;
# - `kubectl kustomize` builds the base and every overlay, on a scratch
#   copy with throwaway secrets;
# - kubernetes-validate checks every rendered Kubernetes object strictly
#   (unknown fields refused) against Kubernetes $KUBERNETES_VERSION; it
#   has no schema for the Prometheus Operator's ServiceMonitor and
#   PrometheusRule, which are checked against the operator's CRD schemas
#   as compiled by @kubernetes-models/prometheus-operator (pinned in
#   package-lock.json; not strict: the CRDs allow unnamed fields);
# - checkov scans the rendered manifests: no failed check (skips are
#   annotations on the objects, each with its reason);
# - promtool checks the rendered PrometheusRule's rule groups.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VERSION=1.33.0
root=deploy/kubernetes
venv=$root/.venv
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "==> kubernetes: pinned tools"
lock_sum=$(sha256sum "$root/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements-sha256" 2>/dev/null)" != "$lock_sum" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/requirements.txt"
    echo "$lock_sum" >"$venv/.requirements-sha256"
fi
npm_sum=$(sha256sum "$root/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$root/node_modules/.lock-sha256" 2>/dev/null)" != "$npm_sum" ]; then
    npm ci --prefix "$root" --no-fund --no-audit --loglevel=error
    echo "$npm_sum" >"$root/node_modules/.lock-sha256"
fi

echo "==> kubernetes: no secret is committed"
committed=$(git ls-files "$root" | grep -E '(^|/)(secrets|mysql)\.env$' || true)
if [ -n "$committed" ]; then
    echo "error: a secret file is committed: $committed" >&2
    exit 1
fi
examples=$(git ls-files "$root" | grep -E '(secrets|mysql)\.env\.example$')
for example in $examples; do
    if grep -Ev '^\s*(#|$)' "$example" | grep -Ev '^[A-Z_]+=$' >/dev/null; then
        echo "error: $example holds a value: every line must be NAME= (empty)" >&2
        exit 1
    fi
done
echo "ok  no secret file in git; the $(wc -w <<<"$examples") examples are empty"

echo "==> kubernetes: rendered from monitoring/"
scripts/render-kubernetes.sh "$work/render"
for file in prometheusrule.yaml grafana/catalog.json; do
    if ! diff -u "$root/overlays/production/$file" "$work/render/$file"; then
        echo "error: $root/overlays/production/$file differs from monitoring/: run scripts/render-kubernetes.sh" >&2
        exit 1
    fi
done
echo "ok  the PrometheusRule and the dashboard match monitoring/"

echo "==> kubernetes: kustomize, strict validation against $KUBERNETES_VERSION, checkov"
cp -r "$root" "$work/kubernetes"
rm -rf "$work/kubernetes/.venv"
# A throwaway value for every variable wherever an example stands.
find "$work/kubernetes" -name '*.env.example' | while IFS= read -r example; do
    grep -E '^[A-Z_]+=$' "$example" | while IFS= read -r line; do
        case "$line" in
            DATABASE_URL=) echo "DATABASE_URL=mysql://catalog:$(openssl rand -hex 12)@mysql:3306/catalog" ;;
            *) echo "$line$(openssl rand -hex 24)" ;;
        esac
    done >"${example%.example}"
done
mkdir -p "$work/rendered"
for kustomization in $(cd "$work/kubernetes" && find . -name kustomization.yaml | sort); do
    dir=$(dirname "$kustomization")
    name=$(echo "${dir#./}" | tr '/' '-')
    "$venv/bin/kubectl" kustomize "$work/kubernetes/$dir" >"$work/rendered/$name.yaml"
    validation=$("$venv/bin/kubernetes-validate" --strict -k "$KUBERNETES_VERSION" "$work/rendered/$name.yaml")
    if grep -v '^INFO' <<<"$validation" | grep -v "Couldn't find schema for kind \(ServiceMonitor\|PrometheusRule\) with api version monitoring.coreos.com/v1"; then
        echo "error: $dir does not validate" >&2
        exit 1
    fi
    echo "ok  $dir: $(grep -c '^INFO' <<<"$validation") objects valid (strict, $KUBERNETES_VERSION)"
done
"$venv/bin/checkov" --quiet --compact --skip-download --framework kubernetes \
    --directory "$work/rendered" 2>/dev/null
echo "ok  checkov: no failed check"

echo "==> kubernetes: the Prometheus Operator objects against the operator's schemas"
"$venv/bin/python" - "$work/rendered/overlays-production.yaml" <<'PY' | node "$root/validate-operator.mjs"
import json, sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc["apiVersion"].startswith("monitoring.coreos.com/"):
        print(json.dumps(doc))
PY

echo "==> kubernetes: promtool on the rendered PrometheusRule"
# The rule groups, as a rule file: the object's spec.
"$venv/bin/python" - "$work/rendered/overlays-production.yaml" >"$work/rules.yml" <<'PY'
import sys, yaml
docs = [doc for doc in yaml.safe_load_all(open(sys.argv[1])) if doc]
rules = [doc for doc in docs if doc["kind"] == "PrometheusRule"]
assert len(rules) == 1, f"{len(rules)} PrometheusRules"
yaml.safe_dump(rules[0]["spec"], sys.stdout, sort_keys=False)
PY
promtool check rules "$work/rules.yml"
