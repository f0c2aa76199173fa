# bench/sweep.gp - draws bench/sweep.py's curve of relay throughput against
# concurrent sessions as a PNG: x = concurrent sessions (log scale),
# y = end-to-end messages per second (log scale), one line per MTA.
#
# Input: a whitespace-separated table whose first line names the columns
# ("sessions" then one quoted name per MTA) and whose rows are a
# concurrency level and each MTA's msg/s, "?" where a point is missing.
# bench/sweep.py runs it as
#   gnuplot -e "datafile='build/bench/sweep.dat'; outfile='build/bench/concurrency.png'; plottitle='...'; plotnote='...'; xmax=1300" bench/sweep.gp
# (plotnote, a line under the plot, and xmax are optional).

if (!exists("datafile")) datafile = "build/bench/sweep.dat"
if (!exists("outfile")) outfile = "build/bench/concurrency.png"
if (!exists("plottitle")) plottitle = "Relay throughput against concurrent sessions"
if (!exists("plotnote")) plotnote = ""

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 1000,620 enhanced font "DejaVu Sans,11" linewidth 1.5
} else {
    set terminal png size 1000,620 enhanced
}
set output outfile

set title plottitle noenhanced
set xlabel "concurrent client sessions (log scale)"
set ylabel "end-to-end messages per second (log scale)"
set logscale x 10
if (exists("xmax")) set xrange [0.8:xmax]
set xtics (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
set mxtics 10
# log y: the MTAs differ by orders of magnitude
set logscale y 10
set format y "%g"
set grid xtics ytics mytics lc rgb "#dddddd"
set key inside left top box opaque noenhanced
if (strlen(plotnote) > 0) {
    set bmargin 6
    set label 1 plotnote at screen 0.01, screen 0.025 left noenhanced font ",9"
}
set datafile missing "?"
set style data linespoints

stats datafile skip 1 nooutput
ncols = STATS_columns

plot for [i=2:ncols] datafile using 1:i title columnhead(i) \
     pointtype (i == 2 ? 7 : i == 3 ? 5 : i == 4 ? 9 : 13) pointsize 1.3
