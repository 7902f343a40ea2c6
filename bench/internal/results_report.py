#!/usr/bin/env python3
"""Writes bench/results/<date>-<host>.md and its PNG plots from what `bench/run all` left in ASSETS.

ASSETS (bench/results/<date>-<host>/) holds:
  logs/<name>.log           each benchmark's whole output
  data/run.txt              key=value lines about the run, and "<name> status=N seconds=S" / "<name> skipped"
  data/<name>/raw.txt       ladder benchmarks: one raw record per step ("<server> offered=... rate=... p50_us=...")
  data/overload/*.csv       parkd-loadgen --timeline of each server; data/overload/overload.txt its parameters
The plots (gnuplot, pngcairo) go to ASSETS/*.png; their data and scripts to ASSETS/data/plots/.

Every figure comes from a summary line a benchmark printed ("NAME: key=value ..."); nothing is computed here
but ratios of two numbers measured in the same run.
"""

import argparse
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

SERVER_NAMES = {
    "parkd-1shard": "parkd, 1 shard",
    "parkd-2shards": "parkd, 2 shards",
    "parkd-datadir": "parkd, 1 shard, --data-dir",
    "kamailio": "Kamailio",
    "parkd": "parkd",
}


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def kv_pairs(text):
    out = {}
    for token in text.split():
        if "=" in token:
            key, value = token.split("=", 1)
            out[key] = value
    return out


def num(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def fmt(value, digits=2):
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def summary_lines(log_text, name):
    """Every "<word>: key=value ..." line of the log (the benchmark's summary and its companions)."""
    lines = []
    for line in log_text.splitlines():
        if re.match(r"^[a-z0-9-]+: [a-z_0-9]+=", line):
            lines.append(line)
    return lines


def last_summary(log_text, name):
    found = None
    for line in log_text.splitlines():
        if line.startswith(name + ": ") and re.match(r"^[a-z0-9-]+: [a-z_0-9]+=", line):
            found = kv_pairs(line[len(name) + 2:])
    return found


def machine():
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lscpu = run(["lscpu"])
    threads_per_core = re.search(r"Thread\(s\) per core:\s*(\d+)", lscpu)
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    virt = run(["systemd-detect-virt"]) or ("KVM guest" if "hypervisor" in Path("/proc/cpuinfo").read_text() else "")
    return {
        "CPU": model or platform.processor(),
        "CPUs (online)": f"{os.cpu_count()}"
        + (f", {threads_per_core.group(1)} thread(s) per core" if threads_per_core else ""),
        "virtualisation": virt or "none detected",
        "kernel": platform.release(),
        "memory": f"{mem_kb / 1048576:.1f} GiB",
        "OS": (run(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]) or platform.platform()),
    }


def versions(measured):
    def deb(pkg):
        return run(["dpkg-query", "-W", "-f", "${Version}", pkg]) or "not installed"

    return {
        "parkd": (measured or run(["git", "describe", "--always", "--dirty", "--tags"])) + " (git describe)",
        "g++": run(["g++", "--version"]).splitlines()[0] if run(["g++", "--version"]) else "n/a",
        "Kamailio": (run(["kamailio", "-v"]).splitlines() or ["not installed"])[0],
        "libosip2": deb("libosip2-dev"),
        "liburing": deb("liburing-dev"),
        "gnuplot": run(["gnuplot", "--version"]) or "not installed",
    }


# --- plots ---------------------------------------------------------------------------------------------------


def ladder_records(path):
    records = []
    if not path.exists():
        return records
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        kv = kv_pairs(" ".join(parts[1:]))
        kv["server"] = parts[0]
        records.append(kv)
    return records


def gnuplot(script_path, script):
    script_path.write_text(script)
    result = subprocess.run(["gnuplot", str(script_path)], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"results_report: gnuplot failed on {script_path}:\n{result.stderr}", file=sys.stderr)
        return False
    return True


def plot_ladder(name, records, assets, what):
    """<name>-throughput.png and <name>-latency.png from the ladder's raw records; returns the PNG names."""
    plots_dir = assets / "data" / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    servers = []
    for r in records:
        if r["server"] not in servers and not r["server"].endswith("-capacity"):
            servers.append(r["server"])
    if not servers:
        return []
    for server in servers:
        rows = sorted((r for r in records if r["server"] == server), key=lambda r: num(r.get("offered")) or 0)
        with open(plots_dir / f"{name}-{server}.dat", "w") as f:
            f.write("# offered achieved p50_ms p90_ms p99_ms p999_ms lost_pct failed_503\n")
            for r in rows:
                sent = num(r.get("sent")) or 0
                lost = (num(r.get("lost")) or 0) + (num(r.get("failed")) or 0)

                def ms(key):
                    v = num(r.get(key))
                    return f"{v / 1000:.4f}" if v and num(r.get("completed")) else "NaN"

                f.write(
                    f"{(num(r.get('offered')) or 0) / 1000:.3f} {(num(r.get('rate')) or 0) / 1000:.3f} "
                    f"{ms('p50_us')} {ms('p90_us')} {ms('p99_us')} {ms('p999_us')} "
                    f"{100 * lost / sent if sent else 0:.3f} {r.get('failed_503', 0)}\n"
                )
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    top = max((num(r.get("offered")) or 0) for r in records) / 1000 * 1.05
    plots = []
    lines = [f"'{name}-{s}.dat' using 1:2 with linespoints lw 2 pt 7 lc rgb '{colors[i % 4]}' "
             f"title '{SERVER_NAMES.get(s, s)}'" for i, s in enumerate(servers)]
    script = f"""set terminal pngcairo size 900,560 font 'sans,11'
set output '{(assets / f'{name}-throughput.png').resolve()}'
cd '{plots_dir.resolve()}'
set title '{what}: completed per second against offered (open loop, 1 ms bursts)'
set xlabel 'offered (thousand per second)'
set ylabel 'completed (thousand per second)'
set key top left
set grid
set xrange [0:{top:.1f}]
set yrange [0:*]
plot x with lines dt 2 lc rgb '#999999' title 'offered = completed', \\
     {', '.join(lines)}
"""
    if gnuplot(plots_dir / f"{name}-throughput.gp", script):
        plots.append(f"{name}-throughput.png")
    # Latency: parkd's first server and Kamailio only, one colour per percentile, Kamailio dashed.
    latency_servers = [s for s in servers if s in ("parkd-1shard", "kamailio", "parkd")] or servers[:2]
    pcts = [(3, "p50"), (4, "p90"), (5, "p99"), (6, "p99.9")]
    pcolors = ["#2ca02c", "#1f77b4", "#ff7f0e", "#d62728"]
    lines = []
    for s in latency_servers:
        dash = 1 if s.startswith("parkd") else 2
        for (col, label), color in zip(pcts, pcolors):
            lines.append(f"'{name}-{s}.dat' using 1:{col} with linespoints lw 2 dt {dash} pt 7 ps 0.6 "
                         f"lc rgb '{color}' title '{SERVER_NAMES.get(s, s)} {label}'")
    script = f"""set terminal pngcairo size 900,560 font 'sans,11'
set output '{(assets / f'{name}-latency.png').resolve()}'
cd '{plots_dir.resolve()}'
set title '{what}: latency percentiles against offered load (completed ones)'
set xlabel 'offered (thousand per second)'
set ylabel 'latency (ms, log scale)'
set logscale y
set key top left
set grid
set xrange [0:{top:.1f}]
plot {', '.join(lines)}
"""
    if gnuplot(plots_dir / f"{name}-latency.gp", script):
        plots.append(f"{name}-latency.png")
    return plots


def plot_overload(assets):
    data = assets / "data" / "overload"
    params = {}
    if (data / "overload.txt").exists():
        for line in (data / "overload.txt").read_text().splitlines():
            parts = line.split()
            if parts:
                params[parts[0]] = kv_pairs(" ".join(parts[1:]))
    servers = [s for s in ("parkd", "kamailio") if (data / f"overload-{s}.csv").exists()]
    if not servers:
        return []
    plots_dir = assets / "data" / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    for s in servers:
        rows = (data / f"overload-{s}.csv").read_text().splitlines()[1:]
        with open(plots_dir / f"overload-{s}.dat", "w") as f:
            f.write("# t_s started/s completed/s 503/s other/s lost/s mean_latency_ms (k per second)\n")
            for row in rows:
                c = row.split(",")
                if len(c) < 7:
                    continue
                per_s = 10.0 / 1000  # 100 ms buckets, in thousands per second
                lat = float(c[6]) / 1000 if float(c[2]) > 0 else float("nan")
                f.write(f"{c[0]} {float(c[1]) * per_s:.3f} {float(c[2]) * per_s:.3f} {float(c[3]) * per_s:.3f} "
                        f"{float(c[4]) * per_s:.3f} {float(c[5]) * per_s:.3f} {lat:.3f}\n")
    panels = []
    for s in servers:
        cap = num(params.get(s, {}).get("capacity"))
        cap_line = f"{cap / 1000:.3f} with lines dt 3 lw 2 lc rgb '#555555' title 'capacity', " if cap else ""
        panels.append(f"""set title '{SERVER_NAMES.get(s, s)}: REGISTER at {params.get(s, {}).get('high', '?')}/s, then {params.get(s, {}).get('low', '?')}/s (by start time, 100 ms buckets)'
set ylabel 'thousand per second'
plot {cap_line}'overload-{s}.dat' using 1:2 with lines lw 1 lc rgb '#999999' title 'offered (started)', \\
     '' using 1:3 with lines lw 2 lc rgb '#2ca02c' title 'completed (200)', \\
     '' using 1:4 with lines lw 2 lc rgb '#ff7f0e' title '503', \\
     '' using 1:($5+$6) with lines lw 2 lc rgb '#d62728' title 'lost or other failure'
""")
    lat_lines = [f"'overload-{s}.dat' using 1:7 with lines lw 2 dt {1 if s == 'parkd' else 2} "
                 f"title '{SERVER_NAMES.get(s, s)}'" for s in servers]
    script = f"""set terminal pngcairo size 1000,{300 * (len(servers) + 1)} font 'sans,10'
set output '{(assets / 'overload.png').resolve()}'
cd '{plots_dir.resolve()}'
set multiplot layout {len(servers) + 1},1
set grid
set key outside right
set xlabel 'time (s)'
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
{''.join(panels)}
set title 'mean latency of the completed registrations'
set ylabel 'ms (log scale)'
set logscale y
set yrange [*:*]
set offsets 0, 0, 0, 0
plot {', '.join(lat_lines)}
unset multiplot
"""
    return ["overload.png"] if gnuplot(plots_dir / "overload.gp", script) else []


# --- the table -------------------------------------------------------------------------------------------------


def ratio(a, b):
    return a / b if a and b else None


def rows_for(name, logs):
    """Table rows: (figure, parkd, baseline name, baseline value, ratio, goal) for benchmark `name`."""
    text = logs.get(name, "")
    s = last_summary(text, name)
    rows = []
    if s is None:
        return [(f"no summary line (see logs/{name}.log)", "n/a", "", "", "", "")]
    if name == "parser":
        p, o = num(s.get("parkd_ns")), num(s.get("osip2_ns"))
        rows.append(("ns per message (median of the six messages' medians)", fmt(p, 1), "libosip2", fmt(o, 1),
                     f"{fmt(ratio(o, p))}x; worst message {fmt(num(s.get('ratio')))}x", ">= 10x on every message"))
        rows.append(("GB/s, INVITE with SDP", fmt(num(s.get("gbps"))), "", "", "", ">= 1"))
    elif name == "transport":
        p, k = num(s.get("parkd_rps")), num(s.get("kamailio_rps"))
        rows.append(("OPTIONS answered per second, 1 core", fmt(p), "Kamailio", fmt(k), f"{fmt(ratio(p, k))}x", ""))
        two = last_summary(text, "transport-2shards") or {}
        if two.get("parkd_2shards_rps"):
            rows.append(("... parkd with 2 shards (shares a core with the load generator)",
                         fmt(num(two.get("parkd_2shards_rps"))), "", "", "", ""))
    elif name == "register":
        p, k = num(s.get("parkd_rps")), num(s.get("kamailio_rps"))
        rows.append(("registrations (digest) per second, 1 core", fmt(p), "Kamailio", fmt(k), f"{fmt(ratio(p, k))}x",
                     ">= 5x"))
        cpu_line = next((l for l in text.splitlines() if l.startswith("register-cpu: at ")), None)
        if cpu_line:
            c = kv_pairs(cpu_line)
            at = re.search(r"at (\d+)/s", cpu_line)
            pu, ku = num(c.get("parkd_us")), num(c.get("kamailio_us"))
            rows.append((f"server CPU us per registration at {at.group(1) if at else '?'}/s", fmt(pu), "Kamailio",
                         fmt(ku), f"{fmt(ratio(ku, pu))}x", ""))
        dd = last_summary(text, "register-datadir") or {}
        if dd.get("parkd_datadir_rps"):
            rows.append(("... parkd with --data-dir (LMDB writer on the same core)",
                         fmt(num(dd.get("parkd_datadir_rps"))), "", "", "", ""))
    elif name == "scale":
        rows.append((f"RSS bytes per registered extension ({fmt(num(s.get('extensions')))} extensions)",
                     fmt(num(s.get("bytes_per_extension")), 1), "Kamailio (BASELINES.md, not measured here)",
                     "~1,000", "", "<= 300"))
        rows.append(("seconds to register them all", fmt(num(s.get("register_all_s")), 1), "", "", "", ""))
    elif name == "overload":
        rows.append(("at 2x its own capacity: registrations completed per second",
                     fmt(num(s.get("parkd_goodput_rps"))), "Kamailio", fmt(num(s.get("kamailio_goodput_rps"))),
                     f"{fmt(ratio(num(s.get('parkd_goodput_rps')), num(s.get('kamailio_goodput_rps'))))}x", ""))
        rows.append(("... the same as a share of its capacity", fmt(num(s.get("parkd_capacity_share"))), "Kamailio",
                     fmt(num(s.get("kamailio_capacity_share"))), "", "close to 1"))
        rows.append(("... lost (unanswered) %", fmt(num(s.get("parkd_lost_pct"))), "Kamailio",
                     fmt(num(s.get("kamailio_lost_pct"))), "", "0: 503 instead"))
        rows.append(("... answered 503 %", fmt(num(s.get("parkd_503_pct"))), "Kamailio",
                     fmt(num(s.get("kamailio_503_pct"))), "", ""))
        pl, kl = num(s.get("parkd_latency_ms")), num(s.get("kamailio_latency_ms"))
        rows.append(("... mean latency of the completed, ms", fmt(pl), "Kamailio", fmt(kl), f"{fmt(ratio(kl, pl))}x",
                     ""))
        rows.append(("... 503s with Retry-After", s.get("parkd_retry_after", "n/a"), "", "", "", "all"))
        rows.append(("recovery after the drop to 0.5x, ms", fmt(num(s.get("parkd_recovery_ms")), 0), "Kamailio",
                     fmt(num(s.get("kamailio_recovery_ms")), 0), "", "at once"))
        rows.append(("bindings kept through the overload", s.get("bindings_kept", "n/a"), "", "", "", "all"))
    elif name == "park":
        rows.append(("park cycles per second, 1 core (4 s ladder steps, T1 = 10 ms)",
                     fmt(num(s.get("cycles_per_s")), 0), "", "", "", ">= 10,000"))
        shipped = last_summary(text, "park-shipped") or {}
        rows.append(("... as shipped (defaults, held 45 s)", fmt(num(shipped.get("cycles_per_s")), 0),
                     "", "", "", ">= 10,000"))
        half = last_summary(text, "park-half") or {}
        rows.append((f"park-info latency at half load ({half.get('rate', '?')}/s), p50 / p99 ms",
                     f"{fmt(num(half.get('notify_p50_ms')), 3)} / {fmt(num(s.get('notify_p99_ms')), 3)}", "", "", "",
                     "p99 <= 1"))
        rows.append(("parkd CPU us per park cycle at half load", fmt(num(half.get("parkd_us_per_cycle")), 1), "", "",
                     "", ""))
        cost = last_summary(text, "park-cost") or {}
        if cost:
            rows.append(("messages per second while nobody parks (10,000 tenants)", "0", "park spots",
                         fmt(num(cost.get("idle_msgs_per_s")), 0), "", ""))
            spots, _, parkd = cost.get("cycle_msgs", "").partition("/")
            rows.append(("messages per park cycle", fmt(num(parkd), 0), "park spots", fmt(num(spots), 0), "", ""))
    else:
        # A benchmark this script does not know: pair every parkd_X with another server's X.
        for key, value in s.items():
            if not key.startswith("parkd_"):
                continue
            metric = key[len("parkd_"):]
            other = next(((k, v) for k, v in s.items() if k.endswith("_" + metric) and k != key), None)
            p = num(value)
            o = num(other[1]) if other else None
            lower_better = re.search(r"_(ns|us|ms|s|bytes|pct)$", "_" + metric) is not None
            r = ratio(o, p) if lower_better else ratio(p, o)
            rows.append((metric, fmt(p), other[0].split("_")[0] if other else "", fmt(o) if other else "",
                         f"{fmt(r)}x" if r else (s.get("ratio", "") + "x" if s.get("ratio") else ""), ""))
        if not rows:
            rows.append((" ".join(f"{k}={v}" for k, v in s.items()), "", "", "", "", ""))
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    assets = args.assets
    run_info = {}
    status = {}
    order = []
    for line in (assets / "data" / "run.txt").read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if "=" in parts[0]:
            key, value = line.split("=", 1)
            run_info[key] = value
        else:
            order.append(parts[0])
            status[parts[0]] = kv_pairs(" ".join(parts[1:])) if len(parts) > 1 and parts[1] != "skipped" else None
    logs = {n: (assets / "logs" / f"{n}.log").read_text(errors="replace")
            for n in order if (assets / "logs" / f"{n}.log").exists()}

    plots = {}
    for name, what in (("register", "REGISTER with digest"), ("transport", "OPTIONS"), ("calls", "calls"),
                       ("park", "park cycles")):
        records = ladder_records(assets / "data" / name / "raw.txt")
        if records:
            plots[name] = plot_ladder(name, records, assets, what)
    plots["overload"] = plot_overload(assets)

    rel = os.path.relpath(assets, args.out.parent)
    out = []
    out.append(f"# Benchmark results: {args.out.stem}\n")
    out.append(f"`bench/run all`, started {run_info.get('started', '?')}, took {run_info.get('seconds', '?')} s; "
               f"scheduling `{run_info.get('sched', '?')}`"
               + (" (BENCH_QUICK=1: shortened runs, a smoke test, not figures to publish)"
                  if run_info.get("quick") == "1" else "")
               + f"; load average {run_info.get('load_start', '?')} at the start, {run_info.get('load_end', '?')} "
               f"at the end. Every baseline was measured in the same run on the same machine (SPEC section 8). "
               f"Full output of each benchmark: [{rel}/logs/]({rel}/logs/).\n")
    out.append("## Machine\n")
    out.append("| | |\n|---|---|")
    for k, v in machine().items():
        out.append(f"| {k} | {v} |")
    out.append("\n## Versions\n")
    out.append("| | |\n|---|---|")
    for k, v in versions(run_info.get("parkd_version")).items():
        out.append(f"| {k} | {v} |")
    out.append("\n## Figures\n")
    out.append("Ratio: how many times better parkd is than the baseline on that figure (higher throughput, or "
               "lower time or CPU).\n")
    out.append("| benchmark | figure | parkd | baseline | baseline's figure | ratio | SPEC goal |")
    out.append("|---|---|---|---|---|---|---|")
    for name in order:
        if status.get(name) is None:
            out.append(f"| {name} | not written yet: skipped | | | | | |")
            continue
        st = status[name]
        if st.get("status") != "0":
            out.append(f"| {name} | **failed** (exit {st.get('status')}), see logs/{name}.log | | | | | |")
            continue
        for figure, p, bname, bvalue, r, goal in rows_for(name, logs):
            out.append(f"| {name} | {figure} | {p} | {bname} | {bvalue} | {r} | {goal} |")
    out.append("")
    out.append("## Plots\n")
    captions = {
        "register-throughput.png": "REGISTER with digest: registrations completed per second against offered",
        "register-latency.png": "REGISTER with digest: latency percentiles of a whole registration against offered",
        "transport-throughput.png": "OPTIONS: answered per second against offered",
        "transport-latency.png": "OPTIONS: latency percentiles against offered",
        "overload.png": "2x capacity for the first part, then 0.5x: what became of the registrations started "
                        "each 100 ms",
    }
    for name in ("register", "transport", "calls", "park", "overload"):
        for png in plots.get(name, []):
            out.append(f"![{captions.get(png, png)}]({rel}/{png})\n")
            out.append(f"*{captions.get(png, png)}.*\n")
    out.append("## Summary lines\n")
    out.append("What each benchmark printed last (bench/README.md explains every key):\n")
    for name in order:
        if name not in logs:
            continue
        lines = summary_lines(logs[name], name)
        if name == "overload":
            lines = [l for l in logs[name].splitlines()
                     if l.startswith(("parkd: capacity", "kamailio: capacity", "  during", "    ", "  after",
                                      "  bindings", "  socket drops"))] + lines
        out.append(f"**{name}** ({status.get(name, {}).get('seconds', '?')} s):\n")
        out.append("```")
        out.extend(lines or ["(no summary line)"])
        out.append("```\n")
    args.out.write_text("\n".join(out) + "\n")
    print(f"results_report: wrote {args.out} and {sum(len(v) for v in plots.values())} plots in {assets}")


if __name__ == "__main__":
    main()
