#!/usr/bin/env bash
# The messages of the LeaderPolicy CRD's CEL cross-field rules on a real API
# server: each names both fields and both values
# (`spec.renewDeadlineSeconds (12) must be less than
# spec.leaseDurationSeconds (10)`), exactly, for one-, two- and three-digit
# values and for values the schema refuses too. And the CEL cost finding
# behind the expressions (docs/webhook.md, "The CEL cost budget"): a
# messageExpression that concatenates after string(int) or format() is
# refused as over budget even on integers with `maximum`; one format() call
# whose result is the message is accepted. Everything is a server-side dry
# run: nothing is stored but the CRD itself, which is applied as
# leaderpolicy_crd_test.sh does (idempotent, shared, never deleted).
#
#   e2e/crd/leaderpolicy_messages_test.sh config/crd/bases/coordination.kube-zen.io_leaderpolicies.yaml
#
# Needs KUBECONFIG and ZEN_LEAD_CLUSTER_BIN (source DIR/env of
# e2e/cluster/up). Each case is a testcase in $XML_OUTPUT_FILE when set.
set -uo pipefail

: "${KUBECONFIG:?KUBECONFIG must point at a local control plane (e2e/cluster/up)}"
: "${ZEN_LEAD_CLUSTER_BIN:?ZEN_LEAD_CLUSTER_BIN must name the cluster binaries}"
export KUBECONFIG
k() { "$ZEN_LEAD_CLUSTER_BIN/kubectl" "$@"; }
crd=${1:?usage: leaderpolicy_messages_test.sh CRD_YAML}
tmp=${TEST_TMPDIR:-$(mktemp -d)}
passed=0
failed=0
cases_xml=""

record() {  # NAME SECONDS [FAILURE_TEXT]
  if [[ $# -eq 2 ]]; then
    passed=$((passed + 1))
    cases_xml+="<testcase classname=\"LeaderPolicyMessages\" name=\"$1\" time=\"$2\"/>"
    return
  fi
  failed=$((failed + 1))
  local esc=${3//&/&amp;}
  esc=${esc//</&lt;}
  esc=${esc//>/&gt;}
  esc=${esc//\"/&quot;}
  cases_xml+="<testcase classname=\"LeaderPolicyMessages\" name=\"$1\" time=\"$2\"><failure message=\"failed\">$esc</failure></testcase>"
}

check() {  # NAME FUNCTION [ARGS...]
  local name=$1 fn=$2 out t0=$SECONDS
  shift 2
  if out=$("$fn" "$@" 2>&1); then
    printf 'PASS %s\n' "$name"
    record "$name" "$((SECONDS - t0))"
  else
    printf 'FAIL %s\n%s\n' "$name" "$out"
    record "$name" "$((SECONDS - t0))" "$out"
  fi
}

crd_established() {
  k apply --server-side --field-manager=zen-lead-e2e -f "$crd" || return 1
  k wait --for=condition=Established --timeout=30s crd/leaderpolicies.coordination.kube-zen.io
}

# has_cause FILE MESSAGE: kubectl printed a cause whose message is exactly
# MESSAGE (each cause is "FIELD: Invalid value: VALUE: MESSAGE", on a line
# of its own or after "is invalid: ").
has_cause() {
  python3 - "$1" "$2" <<'PY'
import sys
text, want = open(sys.argv[1]).read(), sys.argv[2]
sys.exit(0 if any(line.endswith(": " + want) for line in text.splitlines()) else 1)
PY
}

# says SPEC MESSAGE: a LeaderPolicy with SPEC is refused with a cause saying
# exactly MESSAGE.
says() {
  local spec=$1 want=$2
  if printf 'apiVersion: coordination.kube-zen.io/v1alpha1\nkind: LeaderPolicy\nmetadata: {name: messages, namespace: default}\nspec: %s\n' "$spec" |
    k create --dry-run=server -f - >"$tmp/out" 2>"$tmp/err"; then
    echo "accepted, but should have been refused: $spec"
    return 1
  fi
  cat "$tmp/err"
  has_cause "$tmp/err" "$want" || { echo "no cause says exactly: $want"; return 1; }
}

# A CRD of its own (group cel-cost.zen-lead.test) with two integers bounded
# like the LeaderPolicy's and one rule with MESSAGE_EXPRESSION, created as a
# dry run.
probe_crd() {
  cat <<YAML
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: probes.cel-cost.zen-lead.test}
spec:
  group: cel-cost.zen-lead.test
  names: {kind: Probe, plural: probes, singular: probe, listKind: ProbeList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              a: {type: integer, format: int32, minimum: 1, maximum: 300}
              b: {type: integer, format: int32, minimum: 1, maximum: 300}
            x-kubernetes-validations:
            - rule: "!has(self.a) || !has(self.b) || self.a < self.b"
              message: a must be less than b
              messageExpression: >-
                $1
YAML
}

# over_budget NAME EXPRESSION: the probe CRD with EXPRESSION is refused for
# its estimated cost.
over_budget() {
  if probe_crd "$2" | k create --dry-run=server -f - 2>"$tmp/$1.err"; then
    echo "accepted: the budget finding no longer holds for $2"
    return 1
  fi
  cat "$tmp/$1.err"
  grep -qF "estimated messageExpression cost exceeds budget" "$tmp/$1.err"
}

within_budget() {  # EXPRESSION
  probe_crd "$1" | k create --dry-run=server -f -
}

check CrdIsEstablished crd_established
check RenewAboveLease says '{leaseDurationSeconds: 10, renewDeadlineSeconds: 12}' \
  'spec.renewDeadlineSeconds (12) must be less than spec.leaseDurationSeconds (10)'
check RenewEqualToLease says '{leaseDurationSeconds: 10, renewDeadlineSeconds: 10}' \
  'spec.renewDeadlineSeconds (10) must be less than spec.leaseDurationSeconds (10)'
check ThreeDigitValues says '{leaseDurationSeconds: 100, renewDeadlineSeconds: 105}' \
  'spec.renewDeadlineSeconds (105) must be less than spec.leaseDurationSeconds (100)'
check ThreeDigitValuesWithZeros says '{leaseDurationSeconds: 250, renewDeadlineSeconds: 300}' \
  'spec.renewDeadlineSeconds (300) must be less than spec.leaseDurationSeconds (250)'
check OneDigitValues says '{leaseDurationSeconds: 3, renewDeadlineSeconds: 5, retryPeriodSeconds: 1}' \
  'spec.renewDeadlineSeconds (5) must be less than spec.leaseDurationSeconds (3)'
check RetryAgainstRenew says '{renewDeadlineSeconds: 6, retryPeriodSeconds: 5}' \
  '1.2 x spec.retryPeriodSeconds (5) must be less than spec.renewDeadlineSeconds (6)'
check DefaultRetryAgainstShortRenew says '{leaseDurationSeconds: 3, renewDeadlineSeconds: 2}' \
  '1.2 x spec.retryPeriodSeconds (2) must be less than spec.renewDeadlineSeconds (2)'
check TwoDigitRetry says '{leaseDurationSeconds: 300, renewDeadlineSeconds: 60, retryPeriodSeconds: 50}' \
  '1.2 x spec.retryPeriodSeconds (50) must be less than spec.renewDeadlineSeconds (60)'
check ZeroLeaseStillNamesTheValues says '{leaseDurationSeconds: 0, renewDeadlineSeconds: 10}' \
  'spec.renewDeadlineSeconds (10) must be less than spec.leaseDurationSeconds (0)'
check OutOfRangeValuesAreNamedToo says '{leaseDurationSeconds: 15, renewDeadlineSeconds: 1000}' \
  'spec.renewDeadlineSeconds (1000) must be less than spec.leaseDurationSeconds (15)'
check NegativeValuesAreNamedToo says '{leaseDurationSeconds: -1, renewDeadlineSeconds: 10}' \
  'spec.renewDeadlineSeconds (10) must be less than spec.leaseDurationSeconds (-1)'
check StringOfIntConcatenatedIsOverTheCostBudget over_budget string-concat \
  "'a (' + string(self.a) + ') must be less than b (' + string(self.b) + ')'"
check FormatConcatenatedIsOverTheCostBudget over_budget format-concat \
  "'a (%d) must be less than b' + '%d'.format([self.b])"
check OneFormatCallFitsTheCostBudget within_budget \
  "'a (%d) must be less than b (%d)'.format([self.a, self.b])"

if [[ -n ${XML_OUTPUT_FILE:-} ]]; then
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="LeaderPolicyMessages" tests="%d" failures="%d">%s</testsuite></testsuites>\n' \
    "$((passed + failed))" "$failed" "$cases_xml" >"$XML_OUTPUT_FILE"
fi
echo "leaderpolicy messages: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
