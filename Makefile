# overcloud-backup-operator
#
#   make demo     the main job end to end on this machine (see README)
#   make test     every test: pure packages and envtest against a real kube-apiserver
#   make help     every target

# The release (make release; docs/release.md): VERSION is vMAJOR.MINOR.PATCH[-PRERELEASE], the
# image IMAGE_REPO:VERSION (IMAGE_REPO may carry a registry), the artifacts in DIST_DIR/VERSION.
# IMG (docker-build, deploy-cluster) is their default spelled out: hack/olmbundle's test reads
# this line as the committed bundle's image; change the three together.
VERSION ?= v0.1.0
IMAGE_REPO ?= overcloud-backup-operator
IMG ?= overcloud-backup-operator:v0.1.0
DIST_DIR ?= $(CURDIR)/dist
CONTAINER_TOOL ?= docker
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

# Tools are pinned and installed into ./bin from the Go module proxy.
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
KUSTOMIZE_VERSION ?= v5.8.1
HELM_VERSION ?= v4.3.2
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
KUBECTL ?= kubectl

# envtest binaries (kube-apiserver, etcd) are built from the Go module proxy by
# hack/setup-envtest.sh and cached outside the repo.
ENVTEST_K8S_VERSION ?= v1.37.2
ENVTEST_ETCD_VERSION ?= v3.7.0
GO_TEST_FLAGS ?= -count=1 -timeout=30m

# The one-node Kubernetes (hack/kube-node.sh) and the image `make image` builds for it from
# the Dockerfile's runtime stage without a container engine (hack/image.sh); never :latest.
DEV_IMG ?= overcloud-backup-operator:dev
DOCKERFILE ?= $(CURDIR)/Dockerfile

# The local overcloud (hack/overcloud.sh): three controllers, each its own namespaces, with
# Corosync and Pacemaker running real Galera, the database VIP and HAProxy, clustercheck and
# sshd; every test, the demo and the benchmarks use it.
OCB_SANDBOX_DIR ?= /tmp/ocb-live
export OCB_SANDBOX_DIR
SANDBOX_JSON = $(OCB_SANDBOX_DIR)/sandbox.json

.PHONY: all
all: build

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC from the markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd:allowDangerousTypes=false paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: chart
chart: manifests kustomize ## Generate the Helm charts in charts/ from config/ (hack/helmchart; docs/helm.md).
	go run ./hack/helmchart -kustomize $(KUSTOMIZE)

.PHONY: bundle
bundle: manifests kustomize ## Generate the OLM bundle in bundle/ from config/ (hack/olmbundle; docs/olm.md).
	go run ./hack/olmbundle -kustomize $(KUSTOMIZE)

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet -tags e2e ./...

.PHONY: lint
lint: golangci-lint shellcheck ## golangci-lint (config in .golangci.yml), then shellcheck on every shell script.
	$(GOLANGCI_LINT) run ./...

# Every shell script in the repository: a first line that is a sh/bash shebang, or a sourced
# file that names its shell for shellcheck (hack/lib.sh).
SHELL_SCRIPTS = $(shell git ls-files -z | xargs -0 awk 'FNR == 1 { if (/^\#!.*[\/ ](ba|da)?sh( |$$)/ || /^\# shellcheck shell=/) print FILENAME; nextfile }')

.PHONY: shellcheck
shellcheck: ## shellcheck (Debian's package, installed if missing) on every shell script: zero findings, or disabled in place with the reason.
	@hack/ensure-packages.sh shellcheck
	shellcheck --external-sources --source-path=SCRIPTDIR $(SHELL_SCRIPTS)
	@echo "shellcheck: $(words $(SHELL_SCRIPTS)) scripts, no finding"

.PHONY: envtest
envtest: ## Build (once) and cache kube-apiserver and etcd for envtest.
	@hack/setup-envtest.sh >/dev/null

.PHONY: cold-rehearsal
cold-rehearsal: ## CI: make this machine cold where that is cheap (a package per script, a cached binary, the images' caches, the state dirs), then bring everything up and check each came back. Removes things: needs CI=true or FORCE=1.
	hack/cold-rehearsal.sh

.PHONY: sandbox
sandbox: ## Bring up (or check) the local overcloud the tests, demo and benchmarks use (Corosync + Pacemaker managing Galera, the VIP, HAProxy).
	hack/overcloud.sh up

.PHONY: sandbox-down
sandbox-down: ## Stop the local overcloud (resources stopped through Pacemaker first) and remove its namespaces and bridge.
	hack/overcloud.sh down

.PHONY: kube-node
kube-node: ## Bring up (or check) the one-node Kubernetes (hack/kube-node.sh; KUBECONFIG from `hack/kube-node.sh env`).
	hack/kube-node.sh up

.PHONY: kube-node-down
kube-node-down: ## Stop the one-node Kubernetes and undo its host changes (iptables, cgroups, sysctls, mounts).
	hack/kube-node.sh down

.PHONY: test
test: manifests generate chart bundle vet envtest kustomize helm test-release sandbox ## Run every test: pure, envtest, the local overcloud, then e2e on the one-node Kubernetes (taken down after, unless KEEP_KUBE_NODE=1).
	@mkdir -p $(LOCALBIN); set +e; \
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(ENVTEST_K8S_VERSION) ETCD_VERSION=$(ENVTEST_ETCD_VERSION) hack/setup-envtest.sh)" \
	OCB_SANDBOX="$(SANDBOX_JSON)" OCB_KUSTOMIZE="$(KUSTOMIZE)" OCB_HELM="$(HELM)" OCB_DIST="$(DIST_DIR)/$(TEST_RELEASE)" \
		go test $(GO_TEST_FLAGS) -v ./... 2>&1 | tee $(LOCALBIN)/test.log | grep -vE '^=== (RUN|PAUSE|CONT|NAME)'; \
	status=$${PIPESTATUS[0]}; \
	echo "=== e2e: the one-node Kubernetes, the image and the operator (make deploy), then test/e2e"; \
	if $(MAKE) --no-print-directory deploy; then \
		$(E2E_ENV) go test -tags e2e $(E2E_TEST_FLAGS) -v ./test/e2e/ 2>&1 | tee $(LOCALBIN)/test-e2e.log | grep -vE '^=== (RUN|PAUSE|CONT|NAME)'; \
		e2e=$${PIPESTATUS[0]}; \
	else e2e=1; echo "--- FAIL: make deploy (the e2e suite did not run)" | tee $(LOCALBIN)/test-e2e.log; fi; \
	echo "=== e2e: the namespaced install (make deploy OVERLAY=namespaced), then its test"; \
	if $(MAKE) --no-print-directory deploy OVERLAY=namespaced >>$(LOCALBIN)/test-e2e.log 2>&1; then \
		$(E2E_ENV) go test -tags 'e2e namespaced' $(E2E_TEST_FLAGS) -run '^TestNamespacedInstall$$' -v ./test/e2e/ 2>&1 | tee -a $(LOCALBIN)/test-e2e.log | grep -vE '^=== (RUN|PAUSE|CONT|NAME)'; \
		[ $${PIPESTATUS[0]} -eq 0 ] || e2e=1; \
	else e2e=1; echo "--- FAIL: make deploy OVERLAY=namespaced (its test did not run)" | tee -a $(LOCALBIN)/test-e2e.log; fi; \
	if [ "$(KEEP_KUBE_NODE)" = 1 ]; then echo "KEEP_KUBE_NODE=1: the one-node Kubernetes stays up"; \
	else hack/kube-node.sh down || e2e=1; fi; \
	set -e; cat $(LOCALBIN)/test-e2e.log >> $(LOCALBIN)/test.log; \
	echo "e2e: $$(grep -cE -- '^ *--- PASS' $(LOCALBIN)/test-e2e.log) passed, $$(grep -cE -- '^ *--- FAIL' $(LOCALBIN)/test-e2e.log) failed, $$(grep -cE -- '^ *--- SKIP' $(LOCALBIN)/test-e2e.log) skipped (bin/test-e2e.log)"; \
	echo "$$(grep -cE -- '^ *--- PASS' $(LOCALBIN)/test.log) passed, $$(grep -cE -- '^ *--- FAIL' $(LOCALBIN)/test.log) failed, $$(grep -cE -- '^ *--- SKIP' $(LOCALBIN)/test.log) skipped"; \
	[ $$status -eq 0 ] && [ $$e2e -eq 0 ]

# make test checks a release built from the tree (hack/release's TestRelease): every artifact
# of make release, as TEST_RELEASE, in DIST_DIR (35 s warm; the two cross builds of the plugin
# are most of it on a cold Go cache).
TEST_RELEASE = v0.0.0-test

.PHONY: test-release
test-release: ## Build the release make test checks (make release VERSION=$(TEST_RELEASE)).
	@$(MAKE) --no-print-directory release VERSION=$(TEST_RELEASE)

# The e2e suite (test/e2e) is behind the `e2e` build tag, so `go test ./...` above neither
# builds nor runs it: it creates namespaces, Jobs and pods on the one-node Kubernetes, which
# only these targets bring up. It reads the node's admin kubeconfig and the sandbox from:
E2E_ENV = OCB_KUBECONFIG="$$(hack/kube-node.sh kubeconfig)" OCB_SANDBOX="$(SANDBOX_JSON)" OCB_E2E_IMAGE=$(DEV_IMG) OCB_HELM="$(HELM)"
E2E_TEST_FLAGS ?= -count=1 -timeout=30m
# `make test` takes the node down at the end (CI starts from nothing); KEEP_KUBE_NODE=1 keeps it.
KEEP_KUBE_NODE ?=

.PHONY: test-e2e
test-e2e: helm sandbox deploy ## Only the e2e suite, on the one-node Kubernetes (brought up, image built, operator deployed if needed; left up); log in bin/test-e2e.log.
	@mkdir -p $(LOCALBIN); set +e; \
	$(E2E_ENV) go test -tags e2e $(E2E_TEST_FLAGS) -v ./test/e2e/ 2>&1 | tee $(LOCALBIN)/test-e2e.log | grep -vE '^=== (RUN|PAUSE|CONT|NAME)'; \
	status=$${PIPESTATUS[0]}; set -e; \
	echo "e2e: $$(grep -cE -- '^ *--- PASS' $(LOCALBIN)/test-e2e.log) passed, $$(grep -cE -- '^ *--- FAIL' $(LOCALBIN)/test-e2e.log) failed, $$(grep -cE -- '^ *--- SKIP' $(LOCALBIN)/test-e2e.log) skipped"; \
	exit $$status

.PHONY: test-e2e-namespaced
test-e2e-namespaced: sandbox ## The namespaced install's e2e test: deploys config/namespaced (left so; `make deploy` restores the default), then TestNamespacedInstall.
	@$(MAKE) --no-print-directory deploy OVERLAY=namespaced
	$(E2E_ENV) go test -tags 'e2e namespaced' $(E2E_TEST_FLAGS) -run '^TestNamespacedInstall$$' -v ./test/e2e/

.PHONY: bench
bench: envtest sandbox ## Run the benchmarks on the local overcloud, ~12 min (docs/benchmarks.md); log in bin/bench.log.
	@# -p 1: one package at a time, so that no benchmark competes with another for the CPUs.
	@# -v: the dump and load-impact benchmarks log their progress and print their tables.
	@# KUBEBUILDER_ASSETS: the envtest packages' TestMain starts an API server even when no test runs.
	@mkdir -p $(LOCALBIN)
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(ENVTEST_K8S_VERSION) ETCD_VERSION=$(ENVTEST_ETCD_VERSION) hack/setup-envtest.sh)" \
	OCB_SANDBOX="$(SANDBOX_JSON)" go test -p 1 -run '^$$' -bench . -benchmem -timeout 30m -v ./... 2>&1 \
		| tee $(LOCALBIN)/bench.log | grep --line-buffered -vE '^(=== (RUN|PAUSE|CONT|NAME)|testing: warning: no tests to run|PASS$$|\?\s.*\[no test files\])'
	@# The e2e benchmark (Job create -> running -> Complete, the node's memory) after the others,
	@# so that the node's daemons, brought up here if needed, do not compete with them.
	$(MAKE) --no-print-directory deploy
	$(E2E_ENV) go test -tags e2e -run '^$$' -bench . -benchtime=5x -timeout 20m -v ./test/e2e/ 2>&1 \
		| tee -a $(LOCALBIN)/bench.log | grep -vE '^(=== (RUN|PAUSE|CONT|NAME)|testing: warning: no tests to run|PASS$$)'

.PHONY: verify
verify: manifests generate chart bundle ## Regenerate (code, CRDs, RBAC, the Helm charts, the OLM bundle), go mod tidy, and fail on any difference.
	go mod tidy
	@if [ -n "$$(git status --porcelain -- api config charts bundle go.mod go.sum)" ]; then \
		echo "generated files or go.mod are out of date; run 'make manifests generate chart bundle' and 'go mod tidy':"; \
		git status --porcelain -- api config charts bundle go.mod go.sum; git --no-pager diff --stat; exit 1; fi

.PHONY: demo
demo: export OCB_DEMO_T0 := $(shell date +%s%N)
demo: sandbox deploy ## Show the operator's main job end to end on this machine (a backup of the live Pacemaker overcloud through the deployed controller); left running.
	OCB_SANDBOX="$(SANDBOX_JSON)" OCB_KUBECONFIG="$$(hack/kube-node.sh kubeconfig)" go run ./test/demo

.PHONY: demo-down
demo-down: ## Tear down what `make demo` left: its namespace, then the one-node Kubernetes and the local overcloud.
	if hack/kube-node.sh status >/dev/null 2>&1; then \
		eval "$$(hack/kube-node.sh env)"; "$$OCB_KUBECTL" delete namespace ocb-demo --ignore-not-found --wait --timeout=120s; fi
	hack/kube-node.sh down
	hack/overcloud.sh down

##@ Build

.PHONY: build
build: manifests generate fmt vet plugin ## Build the one binary (manager, agent, probe), and the kubectl plugin.
	go build -o $(LOCALBIN)/overcloud-backup-operator ./cmd

.PHONY: plugin
plugin: ## Build the kubectl plugin into bin/kubectl-ocb (kubectl ocb: docs/plugin.md).
	go build -ldflags "-X main.version=$(VERSION)" -o $(LOCALBIN)/kubectl-ocb ./cmd/kubectl-ocb

.PHONY: run
run: manifests generate fmt vet ## Run the manager against the current kubeconfig.
	go run ./cmd manager

.PHONY: docker-build
docker-build: ## Build the image with a container engine (CONTAINER_TOOL).
	$(CONTAINER_TOOL) build -t $(IMG) .

# VERSION and IMAGE_REPO reach the script through the environment, never through the shell's
# parsing of the recipe: hack/release.sh validates them before they name anything.
.PHONY: release
release: export OCB_RELEASE_VERSION = $(VERSION)
release: export IMAGE_REPO := $(IMAGE_REPO)
release: export DIST_DIR := $(DIST_DIR)
release: kustomize helm ## Build the release artifacts for VERSION (vX.Y.Z) into dist/VERSION/: image archive, charts, OLM bundle, kubectl-ocb for linux/amd64 and arm64, install.yaml, SHA256SUMS (docs/release.md).
	KUSTOMIZE=$(KUSTOMIZE) HELM=$(HELM) DOCKERFILE=$(DOCKERFILE) hack/release.sh "$$OCB_RELEASE_VERSION" >/dev/null

.PHONY: image
image: ## Build the image without a container engine (the Dockerfile's packages, user, entrypoint) and import it into the one-node Kubernetes.
	DOCKERFILE=$(DOCKERFILE) hack/image.sh $(DEV_IMG) >/dev/null

##@ Deployment

.PHONY: install
install: manifests kustomize ## Install the CRDs into the current cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Remove the CRDs (and every backup object) from the current cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found -f -

# OVERLAY=namespaced deploys config/namespaced (the manager's rules bound in the namespaces it
# watches only; docs/security.md).
OVERLAY ?= default

.PHONY: deploy
deploy: manifests kustomize kube-node image ## Deploy the operator into the one-node Kubernetes (config/$(OVERLAY), image DEV_IMG) and wait until Ready.
	KUSTOMIZE=$(KUSTOMIZE) OVERLAY=$(OVERLAY) hack/kube-node.sh deploy $(DEV_IMG)

.PHONY: deploy-cluster
deploy-cluster: manifests kustomize ## Deploy the operator to the cluster of the current kubeconfig, image IMG.
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the operator from the current cluster.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found -f -

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_GEN_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

.PHONY: kustomize
kustomize: $(KUSTOMIZE)
$(KUSTOMIZE):
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: helm
helm: $(HELM) ## Build helm (v4, from the Go module proxy) into ./bin: the chart's lint and template tests, the e2e install.
$(HELM):
	$(call go-install-tool,$(HELM),helm.sh/helm/v4/cmd/helm,$(HELM_VERSION))

# go-install-tool installs package $(2) at version $(3) as $(1), atomically.
define go-install-tool
@[ -f "$(1)" ] || { \
	set -e; \
	mkdir -p $(LOCALBIN); \
	echo "installing $(2)@$(3)"; \
	rm -f "$(1)"; \
	GOBIN="$(LOCALBIN)" GOFLAGS= go install "$(2)@$(3)"; \
	mv "$(LOCALBIN)/$$(basename "$$(echo "$(2)" | sed 's|/v[0-9]*$$||')")" "$(1)"; \
}
endef
