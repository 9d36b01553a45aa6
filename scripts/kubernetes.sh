#!/usr/bin/env bash
# The Kubernetes manifests (deploy/kubernetes), checked with real tools
# pinned in deploy/kubernetes/requirements.txt (installed into
# deploy/kubernetes/.venv):
# - no secrets.env is committed, and the committed example holds no value;
# - `kubectl kustomize` builds every kustomization, on a scratch copy with
#   a throwaway secrets.env;
# - kubernetes-validate checks every rendered object strictly (unknown
#   fields refused) against Kubernetes $KUBERNETES_VERSION;
# - checkov scans the rendered manifests: no failed check (skips are
#   annotations on the objects, each with its reason).
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

echo "==> kubernetes: no secret is committed"
committed=$(git ls-files "$root" | grep -E '(^|/)secrets\.env$' || true)
if [ -n "$committed" ]; then
    echo "error: a secrets.env is committed: $committed" >&2
    exit 1
fi
while IFS= read -r example; do
    if grep -Ev '^\s*(#|$)' "$example" | grep -Ev '^[A-Z_]+=$' >/dev/null; then
        echo "error: $example holds a value: every line must be NAME= (empty)" >&2
        exit 1
    fi
done < <(git ls-files "$root" | grep 'secrets\.env\.example$')
echo "ok  no secrets.env in git; the examples are empty"

echo "==> kubernetes: kustomize, strict validation against $KUBERNETES_VERSION, checkov"
cp -r "$root" "$work/kubernetes"
rm -rf "$work/kubernetes/.venv"
# A throwaway secret wherever an example stands.
find "$work/kubernetes" -name secrets.env.example | while IFS= read -r example; do
    {
        echo "DATABASE_URL=mysql://catalog:$(openssl rand -hex 12)@mysql.example:3306/catalog"
        echo "JWT_SECRET_KEY=$(openssl rand -hex 32)"
        echo "ADMIN_PASSWORD="
    } >"$(dirname "$example")/secrets.env"
done
mkdir -p "$work/rendered"
for kustomization in $(cd "$work/kubernetes" && find . -name kustomization.yaml | sort); do
    dir=$(dirname "$kustomization")
    name=$(echo "${dir#./}" | tr '/' '-')
    "$venv/bin/kubectl" kustomize "$work/kubernetes/$dir" >"$work/rendered/$name.yaml"
    "$venv/bin/kubernetes-validate" --quiet --strict -k "$KUBERNETES_VERSION" "$work/rendered/$name.yaml"
    echo "ok  $dir: $(grep -c '^kind:' "$work/rendered/$name.yaml") objects, valid (strict, $KUBERNETES_VERSION)"
done
"$venv/bin/checkov" --quiet --compact --skip-download --framework kubernetes \
    --directory "$work/rendered" 2>/dev/null
echo "ok  checkov: no failed check"
