#!/usr/bin/env bash
# Renders what the Kubernetes production overlay takes from monitoring/,
# so that each has one source:
#   monitoring/prometheus/alerts.yml        -> prometheusrule.yaml
#   monitoring/grafana/dashboards/catalog.json -> grafana/catalog.json
#
#   scripts/render-kubernetes.sh [DIR]   (default: the overlay itself)
#
# scripts/kubernetes.sh renders into a scratch folder and fails when the
# committed files differ.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-deploy/kubernetes/overlays/production}
mkdir -p "$out/grafana"
{
    echo "# Rendered from monitoring/prometheus/alerts.yml by"
    echo "# scripts/render-kubernetes.sh: edit that file, then run the script."
    echo "apiVersion: monitoring.coreos.com/v1"
    echo "kind: PrometheusRule"
    echo "metadata:"
    echo "  name: catalog"
    echo "spec:"
    grep -v '^#' monitoring/prometheus/alerts.yml | sed -e 's/^\(.\)/  \1/'
} >"$out/prometheusrule.yaml"
cp monitoring/grafana/dashboards/catalog.json "$out/grafana/catalog.json"
