#!/usr/bin/env python3
"""Turns parser_bench's JSON (--benchmark_out) into the comparison table and the one summary line.

  bench/internal/parser_report.py RESULT.json

Reads the median aggregates (run with --benchmark_repetitions=N --benchmark_report_aggregates_only=true).
Times are CPU time, the time bytes_per_second is computed from. The last line is, exactly:
  parser: parkd_ns=<median over messages of parkd's median ns> osip2_ns=<same for osip2>
          ratio=<minimum over messages of osip2_ns/parkd_ns> gbps=<parkd GB/s on invite_sdp>
(one line). Stdlib only.
"""
import json
import statistics
import sys

NS_PER_UNIT = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
PARSERS = ("parkd", "osip2", "scan")
GBPS_MESSAGE = "invite_sdp"  # SPEC section 8: at least 1 GB/s on INVITE with SDP
CV_NOISY = 0.05  # a coefficient of variation above this over the repetitions makes a row suspect


def main(path):
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    suffix = ""

    medians = {}  # (parser, message) -> benchmark entry
    noisy = []
    order = []  # messages in the order the benchmark ran them
    for entry in report.get("benchmarks", []):
        if entry.get("run_type") != "aggregate":
            continue
        parser, _, message = entry["run_name"].partition("/")
        if parser not in PARSERS:
            continue
        if entry["aggregate_name"] == "median":
            entry["ns"] = entry["cpu_time"] * NS_PER_UNIT[entry["time_unit"]]
            medians[(parser, message)] = entry
            if message not in order:
                order.append(message)
        elif entry["aggregate_name"] == "cv" and entry["cpu_time"] > CV_NOISY:
            noisy.append(f"{entry['run_name']} {entry['cpu_time'] * 100:.1f}%")

    if not order:
        sys.exit(f"parser_report: no median aggregates in {path} (run with --benchmark_repetitions=5 "
                 "--benchmark_report_aggregates_only=true)")
    missing = [f"{p}/{m}" for m in order for p in PARSERS if (p, m) not in medians]
    if missing:
        sys.exit(f"parser_report: no results for {', '.join(missing)} in {path}")
    if GBPS_MESSAGE not in order:
        sys.exit(f"parser_report: no {GBPS_MESSAGE} results in {path}; the summary needs them")

    header = f"{'message':<18} {'bytes':>6} {'parkd ns':>10} {'osip2 ns':>10} {'ratio':>7} {'parkd MB/s':>11} " \
             f"{'scan ns':>8}"
    print(header + suffix)
    ratios = []
    for message in order:
        parkd, osip2, scan = (medians[(p, message)] for p in PARSERS)
        ratio = osip2["ns"] / parkd["ns"]
        ratios.append(ratio)
        print(f"{message:<18} {int(parkd['message_bytes']):>6} {parkd['ns']:>10.1f} {osip2['ns']:>10.1f} "
              f"{ratio:>7.2f} {parkd['bytes_per_second'] / 1e6:>11.1f} {scan['ns']:>8.1f}" + suffix)
    if noisy:
        print(f"noisy (cv over {CV_NOISY:.0%} across repetitions, rerun on a quiet machine): "
              + ", ".join(noisy) + suffix)
    print("SPEC section 8 asks for ratio >= 10 on every message and gbps >= 1" + suffix)

    parkd_ns = statistics.median(medians[("parkd", m)]["ns"] for m in order)
    osip2_ns = statistics.median(medians[("osip2", m)]["ns"] for m in order)
    gbps = medians[("parkd", GBPS_MESSAGE)]["bytes_per_second"] / 1e9
    print(f"parser: parkd_ns={parkd_ns:.1f} osip2_ns={osip2_ns:.1f} ratio={min(ratios):.2f} gbps={gbps:.2f}"
          + suffix)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: bench/internal/parser_report.py RESULT.json")
    main(sys.argv[1])
