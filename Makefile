# zen-lead developer commands. Every target installs what it needs first
# (`make deps`: Debian packages, only those missing), so a fresh machine needs
# no manual step.
#
#   make demo          the main job on a local control plane
#   make test          unit tests, then e2e tests on a local control plane
#   make build | run | lint | deploy | cluster-up | cluster-down
#   make bench-informer  informer sync time and memory per cached pod
#   make bench-failover  failover latency vs a plain Service, 1 and 1,000 pools
#   make bench-webhook   admission webhook latency and CPU, direct and via the API server

SHELL := /bin/bash
BAZEL ?= bazel
CLUSTER_DIR ?= $(CURDIR)/.cluster

.PHONY: deps build test unit e2e demo run deploy lint format cluster-up cluster-down cluster-bin bench-informer bench-failover bench-webhook help

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@tools/deps.sh

build: deps
	$(BAZEL) build //...

test: deps
	@tools/test.sh

unit: deps
	@tools/test.sh --unit-only

demo: deps
	@tools/demo.sh

# `make run`: the operator against $KUBECONFIG (e.g. `make cluster-up`), its
# webhook registered by URL on 127.0.0.1:9443 and owned by the LeaderPolicy
# CRD (deleting the CRD removes the webhook configuration).
run: deps
	kubectl apply -f config/crd/bases/ >/dev/null
	kubectl create namespace zen-lead-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
	$(BAZEL) run //operator:zen-lead-operator -- --leader-elect=false --metrics-bind-address=127.0.0.1:8080 --health-probe-bind-address=127.0.0.1:8081 --grpc-bind-address=127.0.0.1:9090 \
	  --webhook-bind-address=127.0.0.1:9443 --webhook-url=https://127.0.0.1:9443 --webhook-owner=customresourcedefinition/leaderpolicies.coordination.kube-zen.io $(RUN_ARGS)

deploy: deps
	@command -v kubectl >/dev/null || { echo "make deploy: kubectl is not on PATH" >&2; exit 1; }
	@test -f config/default/kustomization.yaml || { echo "make deploy: config/default does not exist yet" >&2; exit 1; }
	kubectl apply -k config/default

# `make lint`: formatting, then clang-tidy on what CI checks (the .cc files
# changed in the last ten commits or not committed yet, and the files that
# include a changed header; TIDY_SINCE=<ref> moves the base). `make lint
# TIDY=all`: clang-tidy on every .cc file (docs/build.md has the run time).
lint: deps
	@TIDY_SINCE=$(TIDY_SINCE) tools/lint.sh $(if $(filter all,$(TIDY)),,--changed)

format: deps
	@tools/lint.sh --fix

cluster-bin: deps
	@e2e/cluster/build

cluster-up: deps
	@e2e/cluster/up $(CLUSTER_DIR)

cluster-down:
	@e2e/cluster/down $(CLUSTER_DIR)

bench-informer: deps
	@e2e/bench/informer.sh

bench-failover: deps
	@e2e/bench/failover.sh

bench-webhook: deps
	@e2e/bench/webhook.sh
