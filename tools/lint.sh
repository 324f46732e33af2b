#!/usr/bin/env bash
# `make lint`: clang-format (Google style, .clang-format) over zen-lead's own
# C++ sources, then clang-tidy (.clang-tidy) over their .cc files. Both are
# errors, not advice: any finding fails (WarningsAsErrors).
#
#   tools/lint.sh                  # format check, then clang-tidy everywhere
#   tools/lint.sh --changed        # format check, then clang-tidy as CI does
#   tools/lint.sh --format-only    # format check alone (seconds)
#   tools/lint.sh --tidy-only --changed   # what CI runs after its build
#   tools/lint.sh --tidy-only a.cc b.cc   # clang-tidy on some files
#   tools/lint.sh --fix            # rewrite formatting (make format)
#
# --changed checks the .cc files that differ from $TIDY_SINCE (default
# HEAD~10: the last ten commits, plus what is not committed yet) and every
# .cc file that includes, directly or through other headers, a header that
# differs; --changed-since REF takes another base. A change to .clang-tidy
# or this script, or a base that does not resolve (a shallow clone), checks
# everything. docs/build.md says why CI checks changes only, and how long
# the full run takes. TIDY_JOBS sets clang-tidy's parallelism (default: the
# number of cores).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

mode=all
since=""
while (($#)); do
  case "$1" in
    --fix | --format-only | --tidy-only) mode=${1#--}; shift ;;
    --changed) since=${TIDY_SINCE:-HEAD~10}; shift ;;
    --changed-since) since=${2:?"lint: --changed-since needs a git ref"}; shift 2 ;;
    -*) echo "lint: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done

# Tracked and untracked (not ignored) sources that exist: a file deleted but
# not yet `git rm`ed is skipped.
mapfile -t sources < <(git ls-files -co --exclude-standard -- '*.cc' '*.h' |
  grep -v '^third_party/' | while read -r f; do [[ -f $f ]] && echo "$f"; done)
((${#sources[@]})) || { echo "lint: no sources"; exit 0; }

if [[ $mode == fix ]]; then
  clang-format -i "${sources[@]}"
  echo "lint: formatted ${#sources[@]} file(s)"
  exit 0
fi

rc=0
if [[ $mode != tidy-only ]]; then
  echo "lint: clang-format --dry-run on ${#sources[@]} file(s)"
  clang-format --dry-run --Werror "${sources[@]}" || rc=1
  if ((rc == 0)); then echo "lint: formatting clean"; else echo "lint: run make format" >&2; fi
  [[ $mode == format-only ]] && exit $rc
fi

# clang-tidy parses each file as the compiler does, so it needs the generated
# headers (api/types/*.h from codegen, api/proto/*.pb.h from protoc): build
# the genrules that write them (a no-op after `bazel build //...`). Every
# other header is ours (-I.) or Debian's (/usr/include, the default path).
bazel=${BAZEL:-bazel}
mapfile -t genrules < <($bazel query 'kind(genrule, //...)' 2>/dev/null)
if ((${#genrules[@]})) && ! $bazel build "${genrules[@]}" >/dev/null 2>&1; then
  echo "lint: building the generated headers failed; run make build" >&2
  exit 1
fi
bin=$($bazel info bazel-bin 2>/dev/null)

scope="every .cc file"
if (($#)); then
  ccs=("$@")
  scope="the files named"
else
  mapfile -t ccs < <(printf '%s\n' "${sources[@]}" | grep '\.cc$')
fi
if [[ -n $since ]]; then
  if ! base=$(git rev-parse --verify --quiet "$since^{commit}"); then
    echo "lint: $since does not resolve here (a shallow clone?): checking everything"
  elif ! git diff --quiet "$base" -- .clang-tidy tools/lint.sh; then
    echo "lint: .clang-tidy or tools/lint.sh changed since $since: checking everything"
  else
    # The changed sources (committed since base, staged, unstaged, untracked),
    # then the headers that include a changed header, to a fixed point, then
    # the .cc files that include any of those.
    mapfile -t ccs < <({
      git diff --name-only "$base" -- '*.cc' '*.h'
      git ls-files -o --exclude-standard -- '*.cc' '*.h'
    } | python3 -c '
import re, sys
sources = sys.argv[1:]
changed = set(l.strip() for l in sys.stdin) & set(sources)
includes = {}
for f in sources:
    with open(f, encoding="utf-8", errors="replace") as fh:
        includes[f] = set(re.findall(r"^\s*#\s*include\s+\"([^\"]+)\"", fh.read(), re.M))
affected = set(changed)
grown = True
while grown:
    grown = False
    for f, inc in includes.items():
        if f not in affected and inc & affected:
            affected.add(f)
            grown = True
print("\n".join(sorted(f for f in affected if f.endswith(".cc"))))
' "${sources[@]}")
    scope="the .cc files affected by changes since $since ($(git rev-parse --short "$base"))"
  fi
fi
if ((${#ccs[@]} == 0)); then
  echo "lint: clang-tidy: nothing to check ($scope)"
  exit $rc
fi
jobs=${TIDY_JOBS:-$(nproc)}
echo "lint: clang-tidy on ${#ccs[@]} file(s), $scope, $jobs at a time"
start=$SECONDS
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
trap 'exit 130' INT TERM  # so that the EXIT trap runs then too
# One clang-tidy per file; each writes its own log, so parallel runs never
# interleave. The flags are the build's (.bazelrc: C++17; the defines that
# //third_party:httplib propagates, on which httplib's class layouts
# depend). Generated headers are included as system headers (-isystem):
# they are codegen's and protoc's output, checked by codegen's golden tests,
# not lines anyone edits. Our headers are checked in every file that
# includes them (HeaderFilterRegex); the report lists each finding once.
export out bin
printf '%s\0' "${ccs[@]}" | xargs -0 -n1 -P"$jobs" bash -c '
  log="$out/$(printf %s "$1" | tr / _).log"
  clang-tidy --quiet --use-color=false "$1" -- -std=c++17 -x c++ \
    -DCPPHTTPLIB_OPENSSL_SUPPORT -DCPPHTTPLIB_ZLIB_SUPPORT \
    -DCPPHTTPLIB_BROTLI_SUPPORT -I. -isystem "$bin" \
    >"$log" 2>&1 || echo "$1" >>"$out/failed"
' tidy
elapsed=$((SECONDS - start))

findings=$(cat "$out"/*.log | grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error): ' |
  sed "s|^$repo/||; s|^\./||" | sort -u || true)
if [[ -s $out/failed ]]; then
  rc=1
  if (($#)); then  # files named on the command line: the full diagnostics
    while read -r f; do cat "$out/$(printf %s "$f" | tr / _).log"; done <"$out/failed"
  fi
  if [[ -n $findings ]]; then
    echo "$findings"
    echo "lint: clang-tidy: $(grep -c '' <<<"$findings") finding(s) in ${elapsed} s" \
      "(tools/lint.sh --tidy-only FILE.cc shows them in context)" >&2
  else
    # Failed without a diagnostic (a crash, a bad flag): show everything.
    while read -r f; do
      echo "---- $f"
      cat "$out/$(printf %s "$f" | tr / _).log"
    done <"$out/failed"
    echo "lint: clang-tidy failed on $(grep -c '' "$out/failed") file(s) in ${elapsed} s" >&2
  fi
else
  echo "lint: clang-tidy clean in ${elapsed} s"
fi
exit $rc
