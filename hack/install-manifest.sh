#!/usr/bin/env bash
# Prints the whole in-cluster install (namespace, CRDs, RBAC, the controller
# Deployment) with the controller image set to IMG, e.g.
#   hack/install-manifest.sh ghcr.io/sluice-dev/sluice:v0.1.0 > install.yaml
# It is config/default rendered by kubectl's built-in kustomize through a
# throw-away overlay; make deploy and make release use it.
set -euo pipefail
img=${1:?usage: install-manifest.sh IMAGE:TAG}
root=$(cd "$(dirname "$0")/.." && pwd)
name=${img%:*} tag=${img##*:}
if [[ $name == "$img" || $tag == */* ]]; then
  echo "install-manifest.sh: IMG must be name:tag, got $img" >&2; exit 1
fi
mkdir -p "$root/.cache"
overlay=$(mktemp -d "$root/.cache/overlay.XXXXXX")
trap 'rm -rf "$overlay"' EXIT
cat >"$overlay/kustomization.yaml" <<EOK
resources:
  - ../../config/default
images:
  - name: ghcr.io/sluice-dev/sluice
    newName: $name
    newTag: "$tag"
EOK
echo "# Sluice: namespace sluice-system, the argoproj.io/v1alpha1 CRDs, least-privilege RBAC and"
echo "# the controller Deployment ($img). Install or upgrade: kubectl apply -f install.yaml"
echo "# (or kubectl apply --server-side -f install.yaml)."
kubectl kustomize "$overlay"
