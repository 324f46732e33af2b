#!/usr/bin/env bash
# Draws the fault run of //operator/trafficdirector:traffic_director_faults_e2e_test
# (FailoverAfterEachApiServerRestart): failover time after each API server
# restart, one line per test log given (e.g. before and after a fix).
#
#   e2e/bench/plot_fault_run.sh OUT.png LABEL=test.log [LABEL=test.log ...]
#
# Reads the "round N: failover X s after the restart" lines the test prints;
# needs gnuplot (Debian's gnuplot-nox).
set -euo pipefail
out=${1:?usage: plot_fault_run.sh OUT.png LABEL=test.log ...}
shift
(($#)) || { echo "plot_fault_run.sh: no test log given" >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "plot_fault_run.sh: gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
plots=()
i=0
for arg in "$@"; do
  label=${arg%%=*}
  log=${arg#*=}
  sed -nE 's/^round ([0-9]+): failover ([0-9.e+-]+) s after the restart$/\1 \2/p' "$log" >"$tmp/$i.dat"
  [[ -s $tmp/$i.dat ]] || { echo "plot_fault_run.sh: no rounds in $log" >&2; exit 1; }
  plots+=("'$tmp/$i.dat' using (\$1+1):2 with linespoints linewidth 2 title '$label'")
  i=$((i + 1))
done
joined=$(IFS=,; echo "${plots[*]}")
gnuplot <<GP
set terminal pngcairo size 800,450 font ",11"
set output '$out'
set title 'Failover after each API server restart (leader deleted right after)'
set xlabel 'restart'
set ylabel 'pod deleted -> slice moved (s)'
set logscale y
set grid
set key top left
set xtics 1
plot $joined
GP
echo "wrote $out"
