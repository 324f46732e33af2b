#!/usr/bin/env bash
# zen-lead's test runner (`make test`):
#   1. unit tests: every Bazel test not tagged "e2e" (hermetic, cached);
#   2. e2e tests: a local control plane comes up (e2e/cluster/up), every test
#      tagged "e2e" runs against it, and the cluster is always torn down,
#      also on failure or interrupt.
# Ends with one summary line counting test cases: "N passed, N failed".
#
#   tools/test.sh               # everything
#   tools/test.sh --unit-only   # step 1 only
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1
bazel=${BAZEL:-bazel}
unit_only=0
[[ "${1:-}" == "--unit-only" ]] && unit_only=1
cluster_dir=${ZEN_LEAD_TEST_CLUSTER_DIR:-$repo/.cluster-test}

rc=0
step() { printf '\n==== %s ====\n' "$*"; }

step "unit tests"
unit_targets=$($bazel query 'tests(//...) except attr(tags, "e2e", tests(//...))' 2>/dev/null)
e2e_targets=$($bazel query 'attr(tags, "e2e", tests(//...))' 2>/dev/null)
if [[ -n $unit_targets ]]; then
  # shellcheck disable=SC2086
  $bazel test --keep_going $unit_targets || rc=1
fi

if [[ $unit_only -eq 0 && -n $e2e_targets ]]; then
  step "e2e tests on a local control plane"
  cleanup() { "$repo/e2e/cluster/down" "$cluster_dir"; }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  "$repo/e2e/cluster/down" "$cluster_dir"  # leftovers of an interrupted run
  if "$repo/e2e/cluster/up" "$cluster_dir"; then
    # shellcheck disable=SC1091
    source "$cluster_dir/env"
    # shellcheck disable=SC2086
    $bazel test --keep_going --nocache_test_results --local_test_jobs=2 \
      --test_env=KUBECONFIG="$KUBECONFIG" \
      --test_env=ZEN_LEAD_CLUSTER_BIN="$ZEN_LEAD_CLUSTER_BIN" \
      $e2e_targets || rc=1
  else
    echo "e2e: the local control plane did not come up" >&2
    rc=1
    e2e_targets_not_run=$e2e_targets
  fi
fi

# Count test cases from the JUnit XML that Bazel wrote for each target.
step "summary"
testlogs=$($bazel info bazel-testlogs 2>/dev/null)
targets=$unit_targets
[[ $unit_only -eq 0 ]] && targets="$targets $e2e_targets"
summary=$(python3 - "$testlogs" "${e2e_targets_not_run:-}" $targets <<'EOF'
import os, sys
import xml.etree.ElementTree as ET
testlogs, not_run, targets = sys.argv[1], set(sys.argv[2].split()), sys.argv[3:]
passed = failed = 0
for t in targets:
    if t in not_run:
        failed += 1
        print(f"  NOT RUN {t}", file=sys.stderr)
        continue
    path = os.path.join(testlogs, t.lstrip("/").replace(":", "/"), "test.xml")
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        failed += 1
        print(f"  NO RESULT {t}", file=sys.stderr)
        continue
    cases = root.iter("testcase")
    n = 0
    for c in cases:
        n += 1
        bad = c.find("failure") is not None or c.find("error") is not None
        if bad:
            failed += 1
            print(f"  FAILED {t} {c.get('classname', '')}.{c.get('name', '')}", file=sys.stderr)
        elif c.get("result", "completed") != "suppressed" and c.get("status", "run") != "notrun":
            passed += 1
print(f"{passed} passed, {failed} failed")
EOF
)
[[ $summary == *" 0 failed" ]] || rc=1
echo "zen-lead: $summary"
exit $rc
