#!/usr/bin/env bash
# Draws the admission webhook benchmark (e2e/bench/webhook_bench.cc):
#   direct:    for each direct run (webhook-pods-1000.dat, ...), the latency
#              distribution (CDF, log x-axis, p50 and p99 marked) and, below
#              it, every request's latency over the run (a timeline);
#   apiserver: pod-create latency through the API server with and without
#              the webhook registered (CDF and timeline, same run).
#
#   e2e/bench/plot_webhook.sh direct OUT.png RUN.dat [RUN.dat ...]
#   e2e/bench/plot_webhook.sh apiserver OUT.png webhook-apiserver.dat
#
# p50/p99 use the bench's rule (the sorted sample at round(q * (n - 1))), so
# they match its printed figures. Needs gnuplot (Debian's gnuplot-nox).
set -euo pipefail
usage="usage: plot_webhook.sh direct|apiserver OUT.png DATA..."
kind=${1:?$usage}
out=${2:?$usage}
shift 2
(($# > 0)) || { echo "plot_webhook.sh: $usage" >&2; exit 2; }
command -v gnuplot >/dev/null || {
  echo "plot_webhook.sh: gnuplot is not installed (apt-get install gnuplot-nox, or make deps)" >&2
  exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
colors=('#1f77b4' '#d62728' '#2ca02c' '#9467bd' '#ff7f0e')

# run_field FILE KEY: a value of the file's "# run:" line.
run_field() { sed -n 's/^# run: //p' "$1" | head -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# cdf VALUES NAME: $tmp/NAME.cdf (value, fraction) and "n p50 p99 max".
cdf() {
  sort -g "$1" >"$tmp/$2.sorted"
  awk -v out="$tmp/$2.cdf" '{ v[NR] = $1 } END {
        if (NR == 0) exit 1
        for (i = 1; i <= NR; i++) printf "%s %.6f\n", v[i], i / NR > out
        printf "%d %s %s %s\n", NR, v[int(0.5 * (NR - 1) + 0.5) + 1], v[int(0.99 * (NR - 1) + 0.5) + 1], v[NR]
      }' "$tmp/$2.sorted"
}

cdf_plots=()
line_plots=()
marks=()
# series INDEX NAME DIGITS EXTRA POINTSIZE: series INDEX from $tmp/INDEX.values
# (latencies) and $tmp/INDEX.timeline (x, latency), titled NAME with its
# n/p50/p99/max (DIGITS decimals) and EXTRA, added to both plots.
series() {
  local n p50 p99 max c=${colors[$1 % ${#colors[@]}]}
  read -r n p50 p99 max < <(cdf "$tmp/$1.values" "$1")
  cdf_plots+=("'$tmp/$1.cdf' using 1:2 with steps linewidth 2 linecolor rgb '$c' title '$2 (n=$n, p50 $(printf "%.${3}f" "$p50") ms, p99 $(printf "%.${3}f" "$p99") ms, max $(printf '%.1f' "$max") ms$4)'")
  line_plots+=("'$tmp/$1.timeline' using 1:2 with points pointtype 7 pointsize $5 linecolor rgb '$c' title '$2'")
  marks+=("$p50 0.5 $1" "$p99 0.99 $1")
}
case $kind in
  direct)
    i=0
    for data in "$@"; do
      [[ -s $data ]] || { echo "plot_webhook.sh: $data is missing or empty" >&2; exit 1; }
      name=$(run_field "$data" name)
      rate=$(run_field "$data" rate)
      conns=$(run_field "$data" connections)
      ((i > 0)) || date=$(run_field "$data" date)  # the first run's
      ((i > 0)) || layout=$(run_field "$data" layout)
      # columns: request scheduled_ms send_lag_ms latency_ms ok
      awk '!/^#/ { print $4 }' "$data" >"$tmp/$i.values"
      awk '!/^#/ { print $2 / 1000, $4 }' "$data" >"$tmp/$i.timeline"
      errors=$(awk '!/^#/ && $5 != 1' "$data" | wc -l)
      series "$i" "${name%-*} at ${rate}/s" 3 ", $errors errors" 0.15
      i=$((i + 1))
    done
    title="zen-lead webhook, AdmissionReviews sent straight to it over ${conns} kept-alive TLS connections, open loop, CPUs ${layout:-shared} (${date/T/ })"
    timeline_x='time into the run (s)'
    ;;
  apiserver)
    data=$1
    [[ -s $data ]] || { echo "plot_webhook.sh: $data is missing or empty" >&2; exit 1; }
    date=$(run_field "$data" date)
    creates=$(run_field "$data" creates)
    # columns: create hooked latency_ms
    i=0
    for which in 1 0; do
      awk -v h=$which '!/^#/ && $2 == h { print $3 }' "$data" >"$tmp/$i.values"
      awk -v h=$which '!/^#/ && $2 == h { print $1, $3 }' "$data" >"$tmp/$i.timeline"
      what="without the webhook"
      ((which == 1)) && what="with the zen-lead webhook"
      series "$i" "$what" 2 "" 0.3
      i=$((i + 1))
    done
    title="Pod create through the API server, ${creates} with and ${creates} without the webhook, alternating (${date/T/ })"
    timeline_x='create (in the order sent)'
    ;;
  *)
    echo "plot_webhook.sh: $usage" >&2
    exit 2
    ;;
esac

printf '%s\n' "${marks[@]}" >"$tmp/marks.dat"
palette=$(for k in "${!colors[@]}"; do printf '(int($3) == %d ? 0x%s : ' "$k" "${colors[k]#\#}"; done; printf '0'; for _ in "${colors[@]}"; do printf ')'; done)
cdf_plots+=("'$tmp/marks.dat' using 1:2:($palette) with points pointtype 9 pointsize 1.6 linecolor rgb variable notitle")
# Values beside the marks, each series one line lower than the one before,
# so marks of several series at nearly the same latency stay readable.
value="(\$1 >= 100 ? sprintf('%.0f ms', \$1) : sprintf('%.3g ms', \$1))"
for ((k = 0; k < ${#marks[@]} / 2; k++)); do
  cdf_plots+=("'$tmp/marks.dat' using 1:(int(\$3) == $k ? \$2 : NaN):$value with labels left offset 0.8,$(awk -v k=$k 'BEGIN { print -0.7 - 1.1 * k }') font ',8' textcolor rgb '${colors[k % ${#colors[@]}]}' notitle")
done
cdf_joined=$(IFS=,; echo "${cdf_plots[*]}")
line_joined=$(IFS=,; echo "${line_plots[*]}")

gnuplot <<GP
set terminal pngcairo size 1100,1000 font ",10"
set output '$out'
set multiplot layout 2,1 title "$title" font ",11"
set xlabel 'latency (ms, log scale)'
set ylabel 'fraction of requests at or below'
set logscale x
set format x '%g'
set yrange [0:1.04]
set ytics ('0' 0, '0.25' 0.25, 'p50' 0.5, '0.75' 0.75, '0.9' 0.9, 'p99' 0.99)
set grid xtics mxtics ytics
set key below left Left reverse font ",9"
set arrow 1 from graph 0, first 0.5 to graph 1, first 0.5 nohead dashtype 3 linecolor rgb '#888888'
set arrow 2 from graph 0, first 0.99 to graph 1, first 0.99 nohead dashtype 3 linecolor rgb '#888888'
plot $cdf_joined
unset arrow 1
unset arrow 2
unset logscale x
set format x '%g'
set xlabel '$timeline_x'
set ylabel 'latency (ms, log scale)'
set logscale y
set yrange [*:*]
set ytics auto
set key below left Left reverse font ",9"
plot $line_joined
unset multiplot
GP
echo "$out"
