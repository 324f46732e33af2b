#!/usr/bin/env bash
# `make lint`: clang-format (Google style, .clang-format) and clang-tidy
# (.clang-tidy) over zen-lead's own C++ sources. `--fix` rewrites formatting;
# `--format-only` checks formatting alone (what CI runs first; clang-tidy,
# which needs a full build and parses every file, is not part of CI yet).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

mapfile -t sources < <(git ls-files -co --exclude-standard -- '*.cc' '*.h' | grep -v '^third_party/')
((${#sources[@]})) || { echo "lint: no sources"; exit 0; }

if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${sources[@]}"
  echo "lint: formatted ${#sources[@]} file(s)"
  exit 0
fi

rc=0
echo "lint: clang-format --dry-run on ${#sources[@]} file(s)"
clang-format --dry-run --Werror "${sources[@]}" || rc=1
if [[ "${1:-}" == "--format-only" ]]; then
  ((rc == 0)) && echo "lint: formatting clean" || echo "lint: run make format" >&2
  exit $rc
fi

# clang-tidy needs the generated headers (protos, codegen): build first, then
# point it at Bazel's output tree.
bazel build //... >/dev/null 2>&1 || { echo "lint: bazel build failed; run make build" >&2; exit 1; }
bin=$(bazel info bazel-bin 2>/dev/null)
mapfile -t ccs < <(printf '%s\n' "${sources[@]}" | grep '\.cc$')
echo "lint: clang-tidy on ${#ccs[@]} file(s)"
clang-tidy --quiet "${ccs[@]}" -- -std=c++17 -x c++ -I. -I"$bin" 2>/dev/null || rc=1
exit $rc
