set terminal pngcairo size 1000,900 font 'sans,10'
set output '/work/main/bench/results/2026-11-26-vm/overload.png'
cd '/work/main/bench/results/2026-11-26-vm/data/plots'
set multiplot layout 3,1
set grid
set key outside right
set xlabel 'time (s)'
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set title 'parkd: REGISTER at 99996/s, then 24999/s (by start time, 100 ms buckets)'
set ylabel 'thousand per second'
plot 49.998 with lines dt 3 lw 2 lc rgb '#555555' title 'capacity', 'overload-parkd.dat' using 1:2 with lines lw 1 lc rgb '#999999' title 'offered (started)', \
     '' using 1:3 with lines lw 2 lc rgb '#2ca02c' title 'completed (200)', \
     '' using 1:4 with lines lw 2 lc rgb '#ff7f0e' title '503', \
     '' using 1:($5+$6) with lines lw 2 lc rgb '#d62728' title 'lost or other failure'
set title 'Kamailio: REGISTER at 39998/s, then 9999/s (by start time, 100 ms buckets)'
set ylabel 'thousand per second'
plot 19.999 with lines dt 3 lw 2 lc rgb '#555555' title 'capacity', 'overload-kamailio.dat' using 1:2 with lines lw 1 lc rgb '#999999' title 'offered (started)', \
     '' using 1:3 with lines lw 2 lc rgb '#2ca02c' title 'completed (200)', \
     '' using 1:4 with lines lw 2 lc rgb '#ff7f0e' title '503', \
     '' using 1:($5+$6) with lines lw 2 lc rgb '#d62728' title 'lost or other failure'

set title 'mean latency of the completed registrations'
set ylabel 'ms (log scale)'
set logscale y
set yrange [*:*]
set offsets 0, 0, 0, 0
plot 'overload-parkd.dat' using 1:7 with lines lw 2 dt 1 title 'parkd', 'overload-kamailio.dat' using 1:7 with lines lw 2 dt 2 title 'Kamailio'
unset multiplot
