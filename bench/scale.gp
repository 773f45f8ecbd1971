# gnuplot script for bench/scale.sh: how dockgate's cost grows with the rules ufw holds.
#   gnuplot -e "datafile='bench/out/scale.dat'; outfile='bench/scale.png'; subtitle='...'" bench/scale.gp
# scale.dat columns: 1 N (admin rules), 2 ufw reload ms, 3 verification ms, 4 add p50 ms,
# 5 add p95 ms, 6 remove p50 ms, 7 remove p95 ms, 8 warm restart ms, 9 mutations, 10 RSS MB,
# 11 / 12 add / remove of the first container after dockgated's start (not in the percentiles).
# "?" is a missing value (a timeout, or no sample).

if (!exists("datafile")) datafile = 'bench/out/scale.dat'
if (!exists("outfile")) outfile = 'bench/scale.png'
if (!exists("subtitle")) subtitle = ''

set terminal pngcairo size 1100,1000 enhanced font 'DejaVu Sans,11' linewidth 1.5
set output outfile
set datafile missing '?'
set datafile commentschars '#'

# log y: zero or missing points are left out instead of breaking the scale
pos(x) = (x > 0 ? x : 1/0)

set multiplot layout 2,1 title "dockgate: cost against the number of IPv6 rules ufw already holds\n{/*0.8 ".subtitle."}"
set grid xtics ytics mytics lc rgb '#dddddd'
set logscale y 10
set format y '%g'
set xlabel 'admin rules held by ufw (user6.rules, besides dockgate'."'".'s own)'
# tics at the measured sizes only (xtic(1) below); a little room left and right
stats datafile using 1 nooutput name 'X'
pad = 0.04 * (X_max - X_min) + 0.5
set xrange [X_min - pad : X_max + pad]
# rows with at least one value for a panel (a panel without any gets a note instead of a plot)
stats datafile using ((valid(4) || valid(5) || valid(6) || valid(7)) ? 1 : 0) nooutput name 'L'
stats datafile using ((valid(2) || valid(3) || valid(8)) ? 1 : 0) nooutput name 'W'
# Each panel's key sits top left, above the data: the y range reaches 30 times past the highest
# point (a key over the data hid the first add at 5,000 rules once).
set key inside top left box opaque
top(col) = 30 * (col > 0 ? col : 1)
stats datafile using (top(column(11) > column(5) ? column(11) : column(5))) nooutput name 'LT'
stats datafile using (top(column(2) > column(3) ? column(2) : column(3))) nooutput name 'WT'

set title 'Container rule latency: Docker event → rule in the kernel (nft monitor)'
set ylabel 'ms (log scale)'
if (L_sum == 0) {
    set label 1 'no latency sample (all timed out?)' at graph 0.5, 0.5 center
    set yrange [1:10]
    set key off
    plot 1/0 notitle
    set key on
    unset label 1
    set yrange [*:*]
} else {
set yrange [*:LT_max]
plot datafile using 1:(pos($4)):xtic(1) with linespoints lw 2 pt 7  lc rgb '#1f77b4' title 'add p50 (start event → add)', \
     ''       using 1:(pos($5)) with linespoints lw 2 pt 7  lc rgb '#1f77b4' dt 2 title 'add p95', \
     ''       using 1:(pos($6)) with linespoints lw 2 pt 5  lc rgb '#d62728' title 'remove p50 (die event → gone)', \
     ''       using 1:(pos($7)) with linespoints lw 2 pt 5  lc rgb '#d62728' dt 2 title 'remove p95', \
     ''       using 1:(pos($11)) with points pt 6 ps 1.8 lc rgb '#1f77b4' title 'add, first container after a start (not in p50/p95)'
}

set title 'Whole-ruleset operations'
set yrange [*:WT_max]
set ylabel 'ms (log scale)'
if (W_sum == 0) {
    set label 1 'no sample' at graph 0.5, 0.5 center
    set yrange [1:10]
    set key off
    plot 1/0 notitle
    set key on
} else {
plot datafile using 1:(pos($8)):xtic(1) with linespoints lw 2 pt 9  lc rgb '#2ca02c' title 'warm restart (start → "in sync:")', \
     ''       using 1:(pos($3)) with linespoints lw 2 pt 11 lc rgb '#9467bd' title 'start-up verification (8 ufw --dry-run)', \
     ''       using 1:(pos($2)) with linespoints lw 2 pt 13 lc rgb '#7f7f7f' dt 3 title 'ufw reload (for scale)'
}

unset multiplot
