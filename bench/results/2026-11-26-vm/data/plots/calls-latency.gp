set terminal pngcairo size 900,560 font 'sans,11'
set output '/work/main/bench/results/2026-11-26-vm/calls-latency.png'
cd '/work/main/bench/results/2026-11-26-vm/data/plots'
set title 'calls: latency percentiles against offered load (completed ones)'
set xlabel 'offered (thousand per second)'
set ylabel 'latency (ms, log scale)'
set logscale y
set key top left
set grid
set xrange [0:26.2]
plot 'calls-parkd.dat' using 1:3 with linespoints lw 2 dt 1 pt 7 ps 0.6 lc rgb '#2ca02c' title 'parkd p50', 'calls-parkd.dat' using 1:4 with linespoints lw 2 dt 1 pt 7 ps 0.6 lc rgb '#1f77b4' title 'parkd p90', 'calls-parkd.dat' using 1:5 with linespoints lw 2 dt 1 pt 7 ps 0.6 lc rgb '#ff7f0e' title 'parkd p99', 'calls-parkd.dat' using 1:6 with linespoints lw 2 dt 1 pt 7 ps 0.6 lc rgb '#d62728' title 'parkd p99.9', 'calls-kamailio.dat' using 1:3 with linespoints lw 2 dt 2 pt 7 ps 0.6 lc rgb '#2ca02c' title 'Kamailio p50', 'calls-kamailio.dat' using 1:4 with linespoints lw 2 dt 2 pt 7 ps 0.6 lc rgb '#1f77b4' title 'Kamailio p90', 'calls-kamailio.dat' using 1:5 with linespoints lw 2 dt 2 pt 7 ps 0.6 lc rgb '#ff7f0e' title 'Kamailio p99', 'calls-kamailio.dat' using 1:6 with linespoints lw 2 dt 2 pt 7 ps 0.6 lc rgb '#d62728' title 'Kamailio p99.9'
