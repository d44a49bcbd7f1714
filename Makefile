# Sluice — progressive delivery for Kubernetes. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

GO        ?= go
BIN_DIR   ?= $(CURDIR)/bin
SANDBOX   ?= sluice
CACHE_DIR ?= $(or $(SLUICE_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sluice)
export SLUICE_CACHE_DIR := $(CACHE_DIR)

# Release identity: stamped into every binary (sluice version) and image. A
# v* tag names it; between tags it is the chart's version, -dev.g<commit>.
CHART_VERSION := $(shell sed -n 's/^version: *//p' charts/sluice/Chart.yaml)
VERSION  ?= $(shell git describe --tags --match 'v*' --dirty 2>/dev/null || \
	echo v$(CHART_VERSION)-dev.g$$(git rev-parse --short=7 HEAD)$$(git diff --quiet HEAD -- 2>/dev/null || echo -dirty))
REGISTRY ?= ghcr.io/sluice-dev
IMG      ?= $(REGISTRY)/sluice:$(VERSION)
PLATFORMS ?= linux/$(shell $(GO) env GOARCH)

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/sluice, the kubectl-sluice plugin link and the lean bin/sluice-exporter sidecar.
	$(GO) build -o $(BIN_DIR)/sluice ./cmd/sluice
	$(GO) build -o $(BIN_DIR)/sluice-exporter ./cmd/sluice-exporter
	ln -sf sluice $(BIN_DIR)/kubectl-sluice

.PHONY: image
image: ## Build the sluice and sluice-exporter images (no Docker) into bin/images/ (PLATFORMS=linux/amd64,linux/arm64).
	$(GO) run ./hack/image -version $(VERSION) -registry $(REGISTRY) -platforms $(PLATFORMS) -out $(BIN_DIR)/images

.PHONY: deploy
deploy: ## Install Sluice into the current kubeconfig's cluster with image IMG (default $(REGISTRY)/sluice:$(VERSION)).
	hack/install-manifest.sh $(IMG) | kubectl apply -f -

.PHONY: undeploy
undeploy: ## Remove what make deploy installed (CRDs, and so every Rollout, included).
	hack/install-manifest.sh $(IMG) | kubectl delete --ignore-not-found -f -

.PHONY: release
release: ## Every release artifact in dist/: images, kubectl-sluice (linux/darwin, amd64/arm64), exporters, install.yaml, chart, krew manifest, SHA256SUMS.
	VERSION=$(VERSION) REGISTRY=$(REGISTRY) hack/release.sh

.PHONY: generate
generate: ## Generate deepcopy code for api/v1alpha1.
	$(GO) tool controller-gen object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: ## Generate CRDs (config/crd) and RBAC (config/rbac), and copy them into the Helm chart.
	$(GO) tool controller-gen crd:maxDescLen=0,generateEmbeddedObjectMeta=true rbac:roleName=sluice-controller \
		paths=./api/... paths=./internal/controller/... \
		output:crd:artifacts:config=config/crd output:rbac:artifacts:config=config/rbac
	$(GO) run ./hack/crd-overrides config/crd
	hack/sync-chart.sh

.PHONY: fmt
fmt: ## gofmt the tree.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet and a gofmt check.
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: sandbox-bins
sandbox-bins: ## Build (or reuse from $(CACHE_DIR)/bin) etcd, kube-*, kwok and kwokctl.
	hack/sandbox/build.sh

.PHONY: sandbox-up
sandbox-up: sandbox-bins ## Start a local control plane ($(SANDBOX)) with kwok nodes; kubeconfig in .sandbox/.
	hack/sandbox/up.sh $(SANDBOX)

.PHONY: sandbox-down
sandbox-down: ## Stop the local control plane ($(SANDBOX)) and delete its data.
	hack/sandbox/down.sh $(SANDBOX)

.PHONY: test-deps
test-deps: ## Install (or name) what the tests need beyond Go: Debian's prometheus.
	hack/test-deps.sh

.PHONY: test
test: sandbox-bins test-deps vet ## All tests: unit, fuzz smoke, and the real-control-plane ones.
	$(GO) test -count=1 -timeout 30m ./...
	hack/fuzz-smoke.sh

.PHONY: demo
demo: build sandbox-up ## Run Sluice on the local sandbox against examples/ and show what happened.
	hack/demo.sh $(SANDBOX)
