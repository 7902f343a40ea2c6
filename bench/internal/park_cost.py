#!/usr/bin/env python3
"""The cost of park spots against parkd's park-info, from figures measured by bench/run park (issue 7).

  bench/internal/park_cost.py tenants=10000 users=20 spots=10 register_s=60 refresh_s=3600 spot_changes=4 \
      register_us=17.5 cycle_us=210.0 cycle_messages=43 park_info_messages=4

Inputs (key=value):
  tenants, users        tenants and users (phones) per tenant
  spots                 park-spot extensions per tenant (the traditional design)
  register_s            how often each spot re-registers (with digest: REGISTER, 401, REGISTER, 200)
  refresh_s             how often each phone refreshes each dialog subscription (RFC 4235; in-dialog
                        SUBSCRIBE, 200, and the NOTIFY, 200 the refresh triggers: RFC 6665 section 4.2.1.1)
  spot_changes          dialog state changes of a spot per park cycle; each sends one NOTIFY (and gets a 200)
                        to every subscriber
  register_us           parkd's measured CPU per registration with digest (4 messages)
  cycle_us              parkd's measured CPU per park cycle
  cycle_messages        datagrams parkd receives and sends per park cycle (measured)
  park_info_messages    of those, the park-info NOTIFYs and their 200s (2 per cycle per device of the target)

Model: both designs carry the same call, REFER and retrieve signalling; park spots drop parkd's park-info
NOTIFYs and add the dialog NOTIFYs, and pay spot registrations and subscription refreshes while nobody
parks. A subscription message is costed at parkd's average CPU per message of a park cycle
(cycle_us / cycle_messages): parkd has no SUBSCRIBE, so it is an estimate from the nearest work parkd does
(in-dialog requests with an XML or SDP body and their answers). Prints a Markdown table, then one line
  park-cost: idle_msgs_per_s=<spots> idle_cpu_pct=<spots> cycle_msgs=<spots>/<parkd> cycle_us=<spots>/<parkd>
Stdlib only.
"""
import sys


def main(argv):
    v = {}
    for arg in argv:
        key, _, value = arg.partition("=")
        v[key] = float(value)
    tenants, users, spots = v["tenants"], v["users"], v["spots"]
    msg_us = v["cycle_us"] / v["cycle_messages"]

    registrations_per_s = tenants * spots / v["register_s"]
    register_msgs_per_s = registrations_per_s * 4
    subscriptions = tenants * users * spots
    subscribe_msgs_per_s = subscriptions * 4 / v["refresh_s"]
    idle_msgs_per_s = register_msgs_per_s + subscribe_msgs_per_s
    idle_cpu_us_per_s = registrations_per_s * v["register_us"] + subscribe_msgs_per_s * msg_us

    dialog_notify_msgs = v["spot_changes"] * users * 2
    spots_cycle_msgs = v["cycle_messages"] - v["park_info_messages"] + dialog_notify_msgs
    spots_cycle_us = v["cycle_us"] + (dialog_notify_msgs - v["park_info_messages"]) * msg_us

    def n(x, digits=0):
        return f"{x:,.{digits}f}"

    rows = [
        ("", f"park spots ({int(spots)} per tenant, REGISTER every {int(v['register_s'])} s, dialog subscriptions)",
         "parkd park-info"),
        ("messages per second while nobody parks",
         f"{n(idle_msgs_per_s)} ({n(register_msgs_per_s)} registering {n(tenants * spots)} spots with digest, "
         f"{n(subscribe_msgs_per_s)} refreshing {n(subscriptions)} subscriptions)", "0"),
        ("messages per hour while nobody parks", f"{n(idle_msgs_per_s * 3600 / 1e6, 1)} million", "0"),
        ("CPU while nobody parks (parkd's measured cost per message)",
         f"{n(idle_cpu_us_per_s / 1e4, 1)}% of a core ({n(idle_cpu_us_per_s * 3600 / 1e6)} core-seconds per hour)",
         "0"),
        ("messages per park cycle",
         f"{n(spots_cycle_msgs)} ({n(v['cycle_messages'] - v['park_info_messages'])} for the call, park and retrieve "
         f"+ {n(dialog_notify_msgs)} dialog NOTIFYs and 200s: {int(v['spot_changes'])} state changes x "
         f"{int(users)} subscribers)",
         f"{n(v['cycle_messages'])} (of which {n(v['park_info_messages'])} park-info NOTIFYs and 200s)"),
        ("CPU per park cycle", f"{n(spots_cycle_us)} us", f"{n(v['cycle_us'])} us (measured)"),
        ("state kept per tenant",
         f"{int(spots)} bindings and {n(users * spots)} subscription dialogs, each with a refresh timer",
         "none while nobody parks; one park record per parked call"),
    ]
    print(f"| {rows[0][0]} | {rows[0][1]} | {rows[0][2]} |")
    print("|---|---|---|")
    for row in rows[1:]:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")
    print()
    print(f"Inputs: {int(tenants):,} tenants x {int(users)} users; parkd measured {v['register_us']:.1f} us per "
          f"registration with digest, {v['cycle_us']:.1f} us per park cycle of {int(v['cycle_messages'])} messages "
          f"({msg_us:.2f} us per message, the cost given to each SUBSCRIBE, NOTIFY and 200).")
    print(f"park-cost: idle_msgs_per_s={idle_msgs_per_s:.0f} idle_cpu_pct={idle_cpu_us_per_s / 1e4:.1f} "
          f"cycle_msgs={spots_cycle_msgs:.0f}/{v['cycle_messages']:.0f} "
          f"cycle_us={spots_cycle_us:.0f}/{v['cycle_us']:.0f}")


if __name__ == "__main__":
    main(sys.argv[1:])
