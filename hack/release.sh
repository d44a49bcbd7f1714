#!/usr/bin/env bash
# make release: every artifact of a release in one directory (default dist/):
# the images (archives for docker/podman load, kind/k3d, ctr import, crane
# push), kubectl-sluice for linux and darwin on amd64 and arm64 (plain and as
# krew archives), the sluice-exporter sidecar binaries, install.yaml, the
# packaged Helm chart, the krew manifest sluice.yaml, and SHA256SUMS.
# Everything is stamped with VERSION and dated with the commit's time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${VERSION:?VERSION must be set (make release sets it)}"
REGISTRY=${REGISTRY:-ghcr.io/sluice-dev}
DIST=${DIST:-dist}
HELM=${HELM:-${SLUICE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}/bin/helm}
RELEASE_URL=${RELEASE_URL:-https://github.com/sluice-dev/sluice/releases/download/$VERSION}
if [[ ! $VERSION =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then
  echo "release: VERSION=$VERSION is not a semantic version (vX.Y.Z[-pre]); helm and krew need one" >&2; exit 1
fi
epoch=$(git log -1 --format=%ct)
t0=$SECONDS
step() { printf '[release %4ds] %s\n' "$((SECONDS - t0))" "$*"; }

rm -rf "$DIST"; mkdir -p "$DIST"
step "images: sluice, sluice-exporter for linux/amd64, linux/arm64"
go run ./hack/image -version "$VERSION" -registry "$REGISTRY" -platforms linux/amd64,linux/arm64 -out "$DIST" | sed 's/^/    /'

ldflags=$(go run ./hack/image -ldflags -version "$VERSION")
build() { # build OS ARCH PKG OUT
  CGO_ENABLED=0 GOOS=$1 GOARCH=$2 GOFLAGS= go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$4" "$3"
}
# tgz DIR OUT: a reproducible tar.gz of DIR's files (sorted, root-owned, commit time).
tgz() { tar -C "$1" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -cf - . | gzip -n9 >"$2"; }

for p in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64; do
  os=${p%/*} arch=${p#*/}
  step "kubectl-sluice $os/$arch"
  bin="$DIST/kubectl-sluice_${VERSION}_${os}_${arch}"
  build "$os" "$arch" ./cmd/sluice "$bin"
  stage=$(mktemp -d); chmod 755 "$stage"; cp "$bin" "$stage/kubectl-sluice"; cp README.md "$stage/"
  tgz "$stage" "$DIST/kubectl-sluice_${VERSION}_${os}_${arch}.tar.gz"; rm -rf "$stage"
done
for arch in amd64 arm64; do
  step "sluice-exporter linux/$arch"
  build linux "$arch" ./cmd/sluice-exporter "$DIST/sluice-exporter_${VERSION}_linux_${arch}"
done

step "install.yaml ($REGISTRY/sluice:$VERSION)"
hack/install-manifest.sh "$REGISTRY/sluice:$VERSION" >"$DIST/install.yaml"

step "helm chart"
"$HELM" package charts/sluice --version "${VERSION#v}" --app-version "$VERSION" -d "$DIST" >/dev/null

step "krew manifest sluice.yaml"
{
  cat <<EOK
# kubectl krew install --manifest=sluice.yaml
# (offline: add --archive=kubectl-sluice_${VERSION}_<os>_<arch>.tar.gz)
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: sluice
spec:
  version: $VERSION
  homepage: https://github.com/sluice-dev/sluice
  shortDescription: Operate progressive-delivery Rollouts (Argo Rollouts API)
  description: |
    Watch, promote, abort, retry and lint canary and blue-green Rollouts
    (argoproj.io/v1alpha1), explain why one does not progress, and rehearse a
    release end to end. Works with Sluice and with Argo Rollouts.
  platforms:
EOK
  for p in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64; do
    os=${p%/*} arch=${p#*/} a="kubectl-sluice_${VERSION}_${os}_${arch}.tar.gz"
    cat <<EOK
  - selector:
      matchLabels: {os: $os, arch: $arch}
    uri: $RELEASE_URL/$a
    sha256: $(sha256sum "$DIST/$a" | cut -d' ' -f1)
    bin: kubectl-sluice
    files:
    - {from: kubectl-sluice, to: .}
    - {from: README.md, to: .}
EOK
  done
} >"$DIST/sluice.yaml"

(cd "$DIST" && sha256sum -- * | grep -v ' SHA256SUMS$' >SHA256SUMS)
step "done: $DIST/"
(cd "$DIST" && while read -r sum f; do printf '  %-52s %8s  sha256:%s\n' "$f" "$(du -h "$f" | cut -f1)" "$sum"; done <SHA256SUMS)
