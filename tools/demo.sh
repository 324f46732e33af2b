#!/usr/bin/env bash
# `make demo`: zen-lead's main job on a local default.
#
# Today (before the operator lands) it brings up the local control plane,
# applies config/samples/, shows the pool's candidate pods and which one
# zen-lead's rule (oldest Ready pod, ties by name) would elect, then cleans up.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${ZEN_LEAD_DEMO_DIR:-$repo/.cluster-demo}

"$repo/e2e/cluster/down" "$dir"
trap '"$repo/e2e/cluster/down" "$dir"' EXIT
"$repo/e2e/cluster/up" "$dir"
# shellcheck disable=SC1091
source "$dir/env"

echo
echo "== applying config/samples/ (a 3-replica Deployment labelled zen-lead/pool=web)"
kubectl apply -f "$repo/config/samples/deployment.yaml"
kubectl rollout status deployment/web --timeout=60s
echo
echo "== candidate pods of pool 'web'"
kubectl get pods -l app=web -o wide
leader=$(kubectl get pods -l app=web --sort-by=.metadata.creationTimestamp \
  -o jsonpath='{range .items[*]}{.metadata.creationTimestamp} {.metadata.name}{"\n"}{end}' | sort | head -n 1 | awk '{print $2}')
echo
echo "== zen-lead would elect: $leader (the oldest Ready pod; ties by name)"
echo "   and route Service web-leader to it only. The operator that does this"
echo "   is not built yet; this demo will then show a live failover."
