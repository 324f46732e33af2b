#!/usr/bin/env bash
# The zen-lead process serving its admission webhook on the local control
# plane, registered in URL mode on 127.0.0.1 as `make run` and `make demo`
# do, and driven with kubectl as a user would:
#   - the process creates the certificate Secret and its
#     ValidatingWebhookConfiguration (caBundle, owner) by itself;
#   - a LeaderPolicy whose pool name is taken by a Lease zen-lead does not
#     manage is denied with the webhook's message, and so is a scaleDown
#     pool whose Deployment rolls out with RollingUpdate; a legal but risky
#     setting is admitted with a warning kubectl shows; a valid policy is
#     admitted, and a server-side dry run never writes;
#   - a pod of no pool is admitted;
#   - with the process down: pods are still created (failurePolicy Ignore),
#     LeaderPolicy changes are refused with a clear message (Fail);
#   - deleting the owner (uninstall) removes the configuration.
# The configuration is limited to this test's namespace
# (--webhook-namespace-labels), so other tests on the cluster never meet it.
#
# Needs what testing/webhook_e2e.sh needs.
set -uo pipefail
source "$PWD/operator/admission/testing/webhook_e2e.sh"

k apply -f "$crd" >/dev/null || fail "cannot apply the CRD"
webhook_setup
port=$(free_port)

echo "== the process creates its certificate and webhook configuration"
start_zen_lead "$port" "$tmp/operator.log" --leader-elect=false
wait_for 30 k get validatingwebhookconfiguration "$config" || fail "no webhook configuration after 30 s"
wait_for 10 k -n "$ns" get secret zen-lead-webhook-tls || fail "no certificate Secret"
bundle=$(k get validatingwebhookconfiguration "$config" -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
secret_ca=$(k -n "$ns" get secret zen-lead-webhook-tls -o jsonpath='{.data.ca\.crt}')
[[ -n $bundle && $bundle == "$secret_ca" ]] || fail "caBundle is not the Secret's ca.crt"
owner_uid=$(k get clusterrole "$owner" -o jsonpath='{.metadata.uid}')
[[ $(k get validatingwebhookconfiguration "$config" -o jsonpath='{.metadata.ownerReferences[0].uid}') == "$owner_uid" ]] ||
  fail "the configuration is not owned by clusterrole/$owner"
# The API server may call the webhook once the process serves; a pod
# admitted through it proves both.
wait_for 30 k -n "$app" run outside --image=registry.invalid/none --restart=Never ||
  fail "a pod of no pool was not admitted"

echo "== a LeaderPolicy whose pool name is taken is denied with the webhook's message"
k -n "$app" create -f - >/dev/null <<EOF || fail "cannot create the foreign Lease"
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: db}
spec: {holderIdentity: someone-else}
EOF
out=$(policy db | k apply -f - 2>&1) && fail "LeaderPolicy db admitted: $out"
echo "$out"
[[ $out == *'denied the request: metadata.name: the Lease '"$app"'/db exists and is not managed by zen-lead'* ]] ||
  fail "unexpected denial: $out"
out=$(policy db | k apply --dry-run=server -f - 2>&1) && fail "dry run of db admitted: $out"
[[ $out == *"not managed by zen-lead"* ]] || fail "dry run not reviewed: $out"

echo "== a scaleDown pool whose Deployment rolls out with RollingUpdate is denied"
k -n "$app" create -f - >/dev/null <<EOF || fail "cannot create the Deployment"
apiVersion: apps/v1
kind: Deployment
metadata: {name: sd, labels: {zen-lead/pool: sd}}
spec:
  replicas: 2
  selector: {matchLabels: {app: sd}}
  template:
    metadata: {labels: {app: sd}}
    spec: {containers: [{name: c, image: registry.invalid/none}]}
EOF
out=""
for _ in $(seq 1 50); do # until the cache has the Deployment
  out=$(policy sd '{followerMode: scaleDown}' | k apply --dry-run=server -f - 2>&1) && { sleep 0.2; continue; }
  break
done
echo "$out"
[[ $out == *'denied the request: spec.followerMode (scaleDown): '*'Deployment '"$app"'/sd'* ]] ||
  fail "scaleDown with a RollingUpdate Deployment: $out"

echo "== a legal but risky setting is admitted with a warning"
out=$(policy quick '{leaseDurationSeconds: 15, renewDeadlineSeconds: 4, retryPeriodSeconds: 2}' |
  k apply -f - 2>&1) || fail "the risky policy was refused: $out"
echo "$out"
[[ $out == *"Warning: "*"renewDeadlineSeconds"* ]] || fail "no warning shown: $out"

echo "== a valid LeaderPolicy is admitted; its dry run writes nothing"
policy cache | k apply --dry-run=server -f - >/dev/null || fail "dry run of a valid policy refused"
k -n "$app" get leaderpolicy cache >/dev/null 2>&1 && fail "a dry run wrote the LeaderPolicy"
policy web | k apply -f - >/dev/null || fail "a valid LeaderPolicy was refused"

echo "== the process is down"
stop_zen_lead
k -n "$app" run while-down --image=registry.invalid/none --restart=Never >/dev/null ||
  fail "pod creation was blocked while zen-lead was down (failurePolicy Ignore)"
out=$(policy web2 | k apply -f - 2>&1) && fail "LeaderPolicy admitted with no webhook (failurePolicy Fail)"
echo "$out"
[[ $out == *'failed calling webhook "leaderpolicies.webhook.zen-lead.io"'* ]] || fail "unclear refusal: $out"

echo "== uninstall: deleting the owner removes the configuration"
k delete clusterrole "$owner" >/dev/null || fail "cannot delete the owner"
wait_for 30 bash -c "! '$ZEN_LEAD_CLUSTER_BIN/kubectl' get validatingwebhookconfiguration '$config'" ||
  fail "the configuration outlived its owner by 30 s"
echo "PASS"
