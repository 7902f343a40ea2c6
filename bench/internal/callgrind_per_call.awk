# Instructions per call of one function, from `callgrind_annotate --threshold=100 --inclusive=yes --tree=caller`.
#   awk -v caller=bench_parkd -v callee=parse_message -f bench/internal/callgrind_per_call.awk
# In the caller tree, a line "IR (..%)  < CALLER... (Nx)" followed by "IR (..%)  *  CALLEE..." says CALLER
# called CALLEE N times and those calls cost IR instructions, CALLEE's callees included: prints IR / N.
# See bench/README.md, "Instructions per message with callgrind".
/< .*x\)/ && index($0, caller) {
  ir = $1
  calls = $0
  sub(/.*\(/, "", calls)
  sub(/x\).*/, "", calls)
  next
}
ir != "" && /\* / && index($0, callee) {
  gsub(",", "", ir)
  gsub(",", "", calls)
  printf "%s: %.0f instructions per call (%d calls)\n", callee, ir / calls, calls
}
{ ir = "" }
