#!/usr/bin/env bash
# Draws one failover benchmark run: the distribution (CDF, log x-axis in ms)
# of zen-lead's failover (NotReady patch -> leader slice moved) against the
# plain Service over the same pods (NotReady patch -> endpoint not ready),
# p50 and p99 marked, and the operator's own histogram
# zen_lead_failover_latency_seconds (leader loss seen -> slice write sent) as
# bucket bounds when the run scraped it.
#
#   e2e/bench/plot_failover.sh RUN.dat [OUT.png]    # default OUT: RUN.png
#
# RUN.dat is what `failover_bench --samples_out=RUN.dat` writes (failover.sh
# does it for every run). p50/p99 use the bench's own rule (the sample at
# round(q * (n - 1)) of the sorted list), so they match its printed figures.
# Needs gnuplot (Debian's gnuplot-nox).
set -euo pipefail
data=${1:?usage: plot_failover.sh RUN.dat [OUT.png]}
out=${2:-${data%.dat}.png}
command -v gnuplot >/dev/null || {
  echo "plot_failover.sh: gnuplot is not installed (apt-get install gnuplot-nox, or make deps)" >&2
  exit 1
}
[[ -s $data ]] || { echo "plot_failover.sh: $data is missing or empty" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The "# run: key=value ..." line.
run=$(sed -n 's/^# run: //p' "$data" | head -n 1)
[[ -n $run ]] || { echo "plot_failover.sh: no '# run:' line in $data" >&2; exit 1; }
get() { tr ' ' '\n' <<<"$run" | sed -n "s/^$1=//p"; }
pools=$(get pools)
per_pool=$(get pods_per_pool)
failovers=$(get failovers)
churn=$(get churn_qps)
lease=$(get lease_duration_seconds)
renew=$(get renew_deadline_seconds)
date=$(get date)

# Index 0 (one line per failover), column 3 (zen-lead) and 4 (plain Service):
# sorted, with the cumulative fraction; percentiles into $tmp/NAME.pct.
cdf() {  # COLUMN NAME
  awk -v c="$1" '/^#/ { next } NF == 0 { blank++; next } blank < 2 && $c != "-" { print $c }' "$data" |
    sort -g >"$tmp/$2.sorted"
  awk '{ v[NR] = $1 } END {
         if (NR == 0) exit 1
         for (i = 1; i <= NR; i++) printf "%s %.6f\n", v[i], i / NR > "'"$tmp/$2.cdf"'"
         p50 = v[int(0.5 * (NR - 1) + 0.5) + 1]; p99 = v[int(0.99 * (NR - 1) + 0.5) + 1]
         printf "%d %s %s\n", NR, p50, p99
       }' "$tmp/$2.sorted" >"$tmp/$2.pct"
}
cdf 3 zen || { echo "plot_failover.sh: no zen-lead samples in $data" >&2; exit 1; }
plain=1
cdf 4 plain || plain=0
read -r zen_n zen_p50 zen_p99 <"$tmp/zen.pct"
if ((plain)); then read -r plain_n plain_p50 plain_p99 <"$tmp/plain.pct"; fi

# Index 1: cumulative buckets (le_ms count, the last +Inf) as fractions of
# the +Inf count, from the last empty bucket to the first full one.
awk '/^#/ { next } NF == 0 { blank++; next }
     blank >= 2 { le[++n] = $1; c[n] = $2 }
     END {
       if (n == 0 || c[n] == 0) exit
       for (i = 1; i <= n; i++) {
         if (le[i] == "+Inf") break
         if (c[i] == 0 && i < n && c[i + 1] == 0) continue
         printf "%s %.6f %d\n", le[i], c[i] / c[n], c[i]
         if (c[i] == c[n]) break
       }
       printf "%d\n", c[n] > "'"$tmp/hist.total"'"
     }' "$data" >"$tmp/hist.dat"
hist_total=$(cat "$tmp/hist.total" 2>/dev/null || echo 0)

if ((lease == 0 && renew == 0)); then
  leases="default Leases (15 s / 10 s)"
else
  leases="Leases ${lease:-default} s / ${renew:-default} s"
  [[ $lease == 0 ]] && leases="Leases default / ${renew} s"
  [[ $renew == 0 ]] && leases="Leases ${lease} s / default"
fi
if [[ $churn == 0 ]]; then churn_text="no churn"; else churn_text="churn ${churn} patches/s"; fi
pool_word=pools
[[ $pools == 1 ]] && pool_word=pool
when=$(sed -E 's/^([0-9-]+)T([0-9]+:[0-9]+).*/\1 \2 UTC/' <<<"$date")
title="Failover latency: ${pools} ${pool_word} x ${per_pool} pods, ${leases}, ${churn_text}, ${failovers} failovers (${when})"

plots=("'$tmp/zen.cdf' using 1:2 with steps linewidth 2 linecolor rgb '#1f77b4' title sprintf('zen-lead: NotReady patch -> leader slice moved (n=%d, p50 %.1f ms, p99 %.1f ms)', $zen_n, $zen_p50, $zen_p99)")
marks=("$zen_p50 0.5 1" "$zen_p99 0.99 1")
if ((plain)); then
  plots+=("'$tmp/plain.cdf' using 1:2 with steps linewidth 2 linecolor rgb '#d62728' title sprintf('plain Service: NotReady patch -> endpoint not ready (n=%d, p50 %.1f ms, p99 %.1f ms)', $plain_n, $plain_p50, $plain_p99)")
  marks+=("$plain_p50 0.5 2" "$plain_p99 0.99 2")
fi
if [[ -s $tmp/hist.dat ]]; then
  plots+=("'$tmp/hist.dat' using 1:2 with linespoints dashtype 2 pointtype 7 pointsize 0.8 linecolor rgb '#2ca02c' title sprintf(\"operator's own histogram: leader loss seen -> slice write sent (%d observations, bucket bounds)\", $hist_total)")
fi
printf '%s\n' "${marks[@]}" >"$tmp/marks.dat"
plots+=("'$tmp/marks.dat' using 1:2:(\$3 == 1 ? 0x1f77b4 : 0xd62728) with points pointtype 9 pointsize 1.8 linecolor rgb variable notitle")
# Values beside the marks: zen-lead's to the right, the plain Service's to
# the left, so that the two never overlap.
plots+=("'$tmp/marks.dat' using 1:(\$3 == 1 ? \$2 : NaN):(sprintf('%.1f ms', \$1)) with labels left offset 1.2,-0.7 font ',9' textcolor rgb '#1f77b4' notitle")
plots+=("'$tmp/marks.dat' using 1:(\$3 == 2 ? \$2 : NaN):(sprintf('%.1f ms', \$1)) with labels right offset -1.2,0.7 font ',9' textcolor rgb '#d62728' notitle")
joined=$(IFS=,; echo "${plots[*]}")

gnuplot <<GP
set terminal pngcairo size 1000,650 font ",10"
set output '$out'
set title "$title" font ",11"
set xlabel 'latency (ms, log scale)'
set ylabel 'fraction of failovers at or below'
set logscale x
set format x '%g'
set yrange [0:1.04]
set ytics ('0' 0, '0.25' 0.25, 'p50' 0.5, '0.75' 0.75, '0.9' 0.9, 'p99' 0.99)
set grid xtics mxtics ytics
set key below left Left reverse font ",9"
set arrow from graph 0, first 0.5 to graph 1, first 0.5 nohead dashtype 3 linecolor rgb '#888888'
set arrow from graph 0, first 0.99 to graph 1, first 0.99 nohead dashtype 3 linecolor rgb '#888888'
plot $joined
GP
echo "$out"
