#!/usr/bin/env bash
# Regenerates codegen/testdata/golden/ from codegen/testdata/features/ after an
# intended change of the generator's output; review the diff before
# committing. Runs //codegen:golden_test in update mode (same generator
# invocations as the test).
set -euo pipefail
cd "$(dirname "$0")/../.."
ZEN_LEAD_UPDATE_GOLDENS=1 bazel run //codegen:golden_test
git status --short codegen/testdata/golden
