set terminal pngcairo size 900,560 font 'sans,11'
set output '/work/main/bench/results/2026-11-26-vm/calls-throughput.png'
cd '/work/main/bench/results/2026-11-26-vm/data/plots'
set title 'calls: completed per second against offered (open loop, 1 ms bursts)'
set xlabel 'offered (thousand per second)'
set ylabel 'completed (thousand per second)'
set key top left
set grid
set xrange [0:26.2]
set yrange [0:*]
plot x with lines dt 2 lc rgb '#999999' title 'offered = completed', \
     'calls-parkd.dat' using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'parkd', 'calls-kamailio.dat' using 1:2 with linespoints lw 2 pt 7 lc rgb '#d62728' title 'Kamailio'
