#!/usr/bin/env bash
# Copies what controller-gen generates into the Helm chart, so the chart and
# config/ (kustomize) install the same CRDs and the same least-privilege
# rules. Run by `make manifests`; test/e2e/helm_test.go fails when they drift.
set -euo pipefail
cd "$(dirname "$0")/.."
chart=charts/sluice
rm -f "$chart"/crds/*.yaml
cp config/crd/argoproj.io_*.yaml "$chart/crds/"
{
  echo "# Generated from config/rbac/role.yaml by hack/sync-chart.sh; do not edit."
  sed -n '/^rules:/,$p' config/rbac/role.yaml | sed '1d'
} >"$chart/files/rules.yaml"
