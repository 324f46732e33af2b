#!/usr/bin/env bash
# The LeaderPolicy CRD (config/crd/bases/) on a real API server: it is
# accepted and Established, `kubectl explain` shows its fields and
# descriptions, valid policies are defaulted, and invalid ones are rejected
# with messages naming the field (schema types, ranges, enums, the CEL
# cross-field rules, unknown fields, the status subresource). Each case is a
# testcase in the JUnit XML Bazel reads ($XML_OUTPUT_FILE).
#
# Needs KUBECONFIG and ZEN_LEAD_CLUSTER_BIN (tools/test.sh passes both). The
# CRD is applied (idempotent, shared with other suites) and never deleted;
# the policies live in a namespace of their own, deleted at the end.
set -uo pipefail

: "${KUBECONFIG:?KUBECONFIG must point at a local control plane (e2e/cluster/up)}"
: "${ZEN_LEAD_CLUSTER_BIN:?ZEN_LEAD_CLUSTER_BIN must name the cluster binaries}"
export KUBECONFIG
k() { "$ZEN_LEAD_CLUSTER_BIN/kubectl" "$@"; }
crd=${1:?usage: leaderpolicy_crd_test.sh CRD_YAML}
tmp=${TEST_TMPDIR:-$(mktemp -d)}
ns=lp-crd-$$-$RANDOM
passed=0
failed=0
cases_xml=""

# wait_until SECONDS CMD...: poll CMD every 200 ms until it succeeds.
wait_until() {
  local limit=$1
  shift
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# check NAME FUNCTION [ARGS...]: runs FUNCTION, records pass/fail with its output.
check() {
  local name=$1 fn=$2 out t0=$SECONDS
  shift 2
  if out=$("$fn" "$@" 2>&1); then
    passed=$((passed + 1))
    printf 'PASS %s (%ds)\n' "$name" "$((SECONDS - t0))"
    cases_xml+="<testcase classname=\"LeaderPolicyCrd\" name=\"$name\" time=\"$((SECONDS - t0))\"/>"
  else
    failed=$((failed + 1))
    printf 'FAIL %s (%ds)\n%s\n' "$name" "$((SECONDS - t0))" "$out"
    local esc=${out//&/&amp;}
    esc=${esc//</&lt;}
    esc=${esc//>/&gt;}
    esc=${esc//\"/&quot;}
    cases_xml+="<testcase classname=\"LeaderPolicyCrd\" name=\"$name\" time=\"$((SECONDS - t0))\"><failure message=\"failed\">$esc</failure></testcase>"
  fi
}

cleanup() { k delete namespace "$ns" --wait=false >/dev/null 2>&1; }
trap cleanup EXIT

# policy NAME SPEC_YAML: a LeaderPolicy manifest.
policy() {
  printf 'apiVersion: coordination.kube-zen.io/v1alpha1\nkind: LeaderPolicy\nmetadata: {name: %s}\nspec: %s\n' "$1" "$2"
}

crd_established() {
  k apply --server-side --field-manager=zen-lead-e2e -f "$crd" || return 1
  k wait --for=condition=Established --timeout=30s crd/leaderpolicies.coordination.kube-zen.io || return 1
  k get crd leaderpolicies.coordination.kube-zen.io \
    -o jsonpath='{.status.acceptedNames.kind} {.status.acceptedNames.shortNames} {.spec.scope}{"\n"}' |
    tee "$tmp/names"
  grep -qx 'LeaderPolicy \["lp"\] Namespaced' "$tmp/names"
}

explain_shows_fields() {
  # The OpenAPI document is published a moment after Established.
  wait_until 30 k explain leaderpolicy.spec || { k explain leaderpolicy.spec; return 1; }
  k explain leaderpolicy.spec >"$tmp/explain" || return 1
  cat "$tmp/explain"
  local want
  for want in leaseDurationSeconds renewDeadlineSeconds retryPeriodSeconds identityStrategy \
    followerMode minReadySeconds "How long the pool Lease stays valid" \
    "enum: standby, scaleDown" "Election settings of the pool"; do
    grep -qF "$want" "$tmp/explain" || { echo "explain lacks: $want"; return 1; }
  done
  k explain leaderpolicy.status.currentHolder >"$tmp/explain_status" || return 1
  grep -qF "When this pod became the leader" "$tmp/explain_status"
}

valid_policy_gets_defaults() {
  policy minimal '{}' | k apply -n "$ns" -f - || return 1
  local got
  got=$(k get lp -n "$ns" minimal -o jsonpath='{.spec.leaseDurationSeconds} {.spec.renewDeadlineSeconds} {.spec.retryPeriodSeconds} {.spec.identityStrategy} {.spec.followerMode} {.spec.minReadySeconds}')
  echo "defaults: $got"
  [[ $got == "15 10 2 pod standby 0" ]]
}

no_spec_gets_defaults() {
  printf 'apiVersion: coordination.kube-zen.io/v1alpha1\nkind: LeaderPolicy\nmetadata: {name: nospec}\n' |
    k apply -n "$ns" -f - || return 1
  local got
  got=$(k get lp -n "$ns" nospec -o jsonpath='{.spec.leaseDurationSeconds} {.spec.followerMode}')
  echo "defaults: $got"
  [[ $got == "15 standby" ]]
}

partial_spec_is_completed() {
  policy partial '{leaseDurationSeconds: 30, followerMode: scaleDown}' | k apply -n "$ns" -f - || return 1
  local got
  got=$(k get lp -n "$ns" partial -o jsonpath='{.spec.leaseDurationSeconds} {.spec.renewDeadlineSeconds} {.spec.retryPeriodSeconds} {.spec.followerMode}')
  echo "spec: $got"
  [[ $got == "30 10 2 scaleDown" ]]
}

boundary_values_accepted() {
  # 1.2 x 8 = 9.6 < 10; 299 < 300; minReadySeconds at its maximum.
  policy edge1 '{renewDeadlineSeconds: 10, retryPeriodSeconds: 8}' | k apply -n "$ns" -f - || return 1
  policy edge2 '{leaseDurationSeconds: 300, renewDeadlineSeconds: 299, retryPeriodSeconds: 60, minReadySeconds: 3600, identityStrategy: custom}' |
    k apply -n "$ns" -f -
}

printer_columns() {
  k get lp -n "$ns" partial >"$tmp/get" || return 1
  cat "$tmp/get"
  head -n 1 "$tmp/get" | grep -Eq '^NAME +PHASE +LEADER +CANDIDATES +MODE +AGE$' || return 1
  grep -Eq '^partial +scaleDown +[0-9]+s$' "$tmp/get"
}

# rejected NAME SPEC FIELD PHRASE: creating the policy fails, and the API
# server's message names FIELD and says PHRASE.
rejected() {
  local name=$1 spec=$2 field=$3 phrase=$4
  if policy "$name" "$spec" | k create -n "$ns" -f - >"$tmp/$name.out" 2>"$tmp/$name.err"; then
    echo "accepted, but should have been rejected: $spec"
    return 1
  fi
  cat "$tmp/$name.err"
  grep -qF -- "$field" "$tmp/$name.err" || { echo "message does not name $field"; return 1; }
  grep -qF -- "$phrase" "$tmp/$name.err" || { echo "message does not say: $phrase"; return 1; }
  ! k get lp -n "$ns" "$name" >/dev/null 2>&1
}

status_is_a_subresource() {
  k patch lp -n "$ns" partial --type=merge -p '{"status":{"phase":"Stable"}}' || return 1
  [[ -z $(k get lp -n "$ns" partial -o jsonpath='{.status.phase}') ]] || {
    echo "a spec write changed status"
    return 1
  }
  k patch lp -n "$ns" partial --subresource=status --type=merge \
    -p '{"status":{"phase":"Stable","candidates":2,"currentHolder":{"name":"web-0","podIP":"10.0.0.1"}}}' || return 1
  k get lp -n "$ns" partial >"$tmp/get2" || return 1
  cat "$tmp/get2"
  grep -Eq '^partial +Stable +web-0 +2 +scaleDown ' "$tmp/get2"
}

# status_rejected NAME TYPE PATCH FIELD PHRASE: a status write (a patch of
# TYPE merge or json) the schema refuses.
status_rejected() {
  local name=$1 type=$2 patch=$3 field=$4 phrase=$5
  if k patch lp -n "$ns" partial --subresource=status --type="$type" -p "$patch" 2>"$tmp/$name.err"; then
    echo "status accepted, but should have been rejected: $patch"
    return 1
  fi
  cat "$tmp/$name.err"
  grep -qF -- "$field" "$tmp/$name.err" && grep -qF -- "$phrase" "$tmp/$name.err"
}

k create namespace "$ns" >/dev/null || exit 1

check CrdIsEstablished crd_established
check ExplainShowsFieldsAndDescriptions explain_shows_fields
check ValidPolicyGetsDefaults valid_policy_gets_defaults
check PolicyWithoutSpecGetsDefaults no_spec_gets_defaults
check PartialSpecIsCompleted partial_spec_is_completed
check BoundaryValuesAreAccepted boundary_values_accepted
check PrinterColumns printer_columns
check RejectsStringLeaseDuration rejected bad-type '{leaseDurationSeconds: "15"}' \
  spec.leaseDurationSeconds "must be of type integer"
check RejectsFractionalRetryPeriod rejected bad-float '{retryPeriodSeconds: 1.5}' \
  spec.retryPeriodSeconds "must be of type integer"
check RejectsZeroLeaseDuration rejected lease-zero '{leaseDurationSeconds: 0}' \
  spec.leaseDurationSeconds "should be greater than or equal to 1"
check RejectsLeaseDurationOver300 rejected lease-big '{leaseDurationSeconds: 301, renewDeadlineSeconds: 10}' \
  spec.leaseDurationSeconds "should be less than or equal to 300"
check RejectsZeroRenewDeadline rejected renew-zero '{renewDeadlineSeconds: 0}' \
  spec.renewDeadlineSeconds "should be greater than or equal to 1"
check RejectsRetryPeriodOver60 rejected retry-big '{leaseDurationSeconds: 300, renewDeadlineSeconds: 200, retryPeriodSeconds: 61}' \
  spec.retryPeriodSeconds "should be less than or equal to 60"
check RejectsUnknownFollowerMode rejected bad-mode '{followerMode: sleep}' \
  spec.followerMode 'Unsupported value: "sleep"'
check RejectsUnknownIdentityStrategy rejected bad-identity '{identityStrategy: random}' \
  spec.identityStrategy 'supported values: "pod", "custom"'
check RejectsRenewDeadlineEqualToLease rejected renew-eq '{leaseDurationSeconds: 10, renewDeadlineSeconds: 10}' \
  spec.renewDeadlineSeconds "spec.renewDeadlineSeconds (10) must be less than spec.leaseDurationSeconds (10)"
check RejectsRenewDeadlineAboveLease rejected renew-gt '{leaseDurationSeconds: 10, renewDeadlineSeconds: 12}' \
  spec.renewDeadlineSeconds "spec.renewDeadlineSeconds (12) must be less than spec.leaseDurationSeconds (10)"
check RejectsRetryTimes1.2NotBelowRenewDeadline rejected retry-eq '{renewDeadlineSeconds: 6, retryPeriodSeconds: 5}' \
  spec.retryPeriodSeconds "1.2 x spec.retryPeriodSeconds (5) must be less than spec.renewDeadlineSeconds (6)"
check RejectsDefaultRetryAgainstShortRenewDeadline rejected retry-default '{leaseDurationSeconds: 3, renewDeadlineSeconds: 2}' \
  spec.retryPeriodSeconds "1.2 x spec.retryPeriodSeconds (2) must be less than spec.renewDeadlineSeconds (2)"
check RejectsMinReadySecondsOver3600 rejected minready-big '{minReadySeconds: 3601}' \
  spec.minReadySeconds "should be less than or equal to 3600"
check RejectsNegativeMinReadySeconds rejected minready-neg '{minReadySeconds: -1}' \
  spec.minReadySeconds "should be greater than or equal to 0"
check RejectsUnknownSpecField rejected unknown-field '{leaseDuration: 15}' \
  spec.leaseDuration 'unknown field'
check StatusIsASubresource status_is_a_subresource
check RejectsUnknownPhase status_rejected bad-phase merge '{"status":{"phase":"Leading"}}' \
  status.phase 'Unsupported value: "Leading"'
check RejectsHolderWithoutName status_rejected holder-name json \
  '[{"op":"replace","path":"/status/currentHolder","value":{"podIP":"10.0.0.2"}}]' \
  status.currentHolder.name 'Required value'
check RejectsDuplicateConditionTypes status_rejected dup-cond merge \
  '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"A","message":"","lastTransitionTime":"2024-01-01T00:00:00Z"},{"type":"Ready","status":"False","reason":"B","message":"","lastTransitionTime":"2024-01-01T00:00:00Z"}]}}' \
  'status.conditions[1]' 'Duplicate value'

if [[ -n ${XML_OUTPUT_FILE:-} ]]; then
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="LeaderPolicyCrd" tests="%d" failures="%d">%s</testsuite></testsuites>\n' \
    "$((passed + failed))" "$failed" "$cases_xml" >"$XML_OUTPUT_FILE"
fi
echo "leaderpolicy crd: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
