#!/usr/bin/env bash
# Fuzzes the AdmissionReview path (webhook/admission_review_fuzzer.cc) with
# libFuzzer for a bounded time: clang from Debian, -fsanitize=fuzzer,
# address and undefined, compiled directly against the system libraries
# (Bazel here has one toolchain, GCC, shared by every build on the machine:
# docs/webhook.md, "Fuzzing", says why it is not switched).
#
#   webhook/fuzz.sh          # 60 s
#   webhook/fuzz.sh 300      # 5 min
#
# Needs clang-14 and libclang-rt-14-dev (the libFuzzer and sanitizer
# runtimes). The seed corpus is webhook/testdata/admission_review_corpus;
# new inputs go to a scratch directory, not into the repository. A crash
# stops the run with exit 1 and the input's path: add the file to the seed
# corpus, so //webhook:admission_review_fuzzer_test replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
clangxx=${CLANGXX:-clang++-14}
bazel=${BAZEL:-bazel}

command -v "$clangxx" >/dev/null || {
  echo "fuzz: $clangxx not found (Debian package clang-14)" >&2
  exit 2
}
resource_dir=$("$clangxx" -print-resource-dir)
if ! ls "$resource_dir"/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1; then
  echo "fuzz: no libFuzzer runtime under $resource_dir (Debian package libclang-rt-14-dev)" >&2
  exit 2
fi

# The generated AdmissionReview types.
"$bazel" build //api/types:core
gen=$("$bazel" info bazel-bin)

work=${FUZZ_WORK_DIR:-${TMPDIR:-/tmp}/zen-lead-fuzz}
mkdir -p "$work/corpus" "$work/crashes"
# shellcheck disable=SC2046
"$clangxx" -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -Wall -Wextra -Werror \
  -Wno-unused-parameter -I. -isystem "$gen" \
  webhook/admission_review_fuzzer.cc webhook/admission_review.cc \
  "$gen/api/types/admissionreview.cc" "$gen/api/types/meta.cc" \
  codegen/runtime/openapi.cc \
  $(pkg-config --libs absl_status absl_statusor absl_strings absl_str_format re2) \
  -o "$work/admission_review_fuzzer"

echo "fuzz: running for ${seconds}s (new inputs in $work/corpus)"
"$work/admission_review_fuzzer" -max_total_time="$seconds" -max_len=65536 \
  -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/crashes/" \
  "$work/corpus" webhook/testdata/admission_review_corpus
