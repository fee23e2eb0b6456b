"""python -m switch bench [--quick] [--out PATH] [--repeat N] [--markdown PATH]

Measures on this machine, against the local emulator, in one run:

1. cold start of ``functions-framework --target switch`` against a trivial
   function started the same way (ratio), peak RSS of both, and where the
   difference goes (imports, client building);
2. per-event cost of a warm instance: Google API calls (and Cloudflare calls,
   and new connections) per event type, events/s and p50/p99 for a duplicate
   open notification and GET /status;
3. time to recovery in simulation: alert → traffic switched, minus the
   emulator's ready delay T, for several T; and for each mode (on-demand with
   an IAM grant, on-demand, warm standby, standby + probe detection) the time
   from the triggering event to traffic switched;
4. the same failover written the straightforward way (``bench/baseline.py``),
   measured in the same run, as ratios;
5. several sites in one function: a reconcile of every site with nothing to
   do, for 1, 5 and 20 sites, and one site's duplicate alert among 20;

and prints a table of figures with their bars, plus the computed end-to-end
budget, and writes everything with the machine's description to JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import time
from pathlib import Path

from . import budget as budget_mod
from . import coldstart, common, cost, imports, modes, recovery, sites
from .server import serve_emulator

DEFAULT_OUT = common.BENCH / "results" / "latest.json"
BARS = {
    "cold_start_ratio": 1.6,
    "peak_rss_mb": 80.0,
    "duplicate_open_google_calls": 1,
    "recovery_overhead_s": 1.0,
    "standby_failover_s": 1.0,
    "idle_reconcile_google_calls_per_site": 2,
}


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m switch bench",
        description="Measure switch's cold start, per-event cost, API round trips and time to recovery on this "
                    "machine, against the local emulator, next to a trivial function and a naive baseline.")
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: tiny samples (< 20 s), every measurement still exercised")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="PATH",
                        help=f"write the JSON here (default: {DEFAULT_OUT.relative_to(common.ROOT)})")
    parser.add_argument("--repeat", type=int, default=None, metavar="N",
                        help="cold-start pairs and fresh-failover samples (default 5, --quick 1); time to "
                             "recovery takes ceil(N/2) alerts per ready delay (the first on a fresh process)")
    parser.add_argument("--markdown", type=Path, default=None, metavar="PATH",
                        help="also write the figures as a markdown snippet (for bench/RESULTS.md)")
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def plan(args) -> dict:
    repeat = args.repeat or (1 if args.quick else 5)
    if args.quick:
        return {"mode": "quick", "repeat": repeat, "warmup": False, "import_runs": 1, "throughput_n": 20,
                "baseline_duplicates": 5, "ready_delay_for_counts": 0.5, "delays": [0.5],
                "samples_per_delay": math.ceil(repeat / 2), "modes_ready_delay": 0.5, "modes_samples": 1}
    return {"mode": "full", "repeat": repeat, "warmup": True, "import_runs": 3, "throughput_n": 300,
            "baseline_duplicates": 50, "ready_delay_for_counts": 0.5, "delays": [0.5, 1, 2, 4],
            "samples_per_delay": math.ceil(repeat / 2), "modes_ready_delay": 3.0, "modes_samples": repeat}


def measure_all(p: dict, progress: common.Progress) -> dict:
    from switch.emulator import Emulator

    emulator = Emulator(ready_delay=0, delete_delay=0, cloudflare_token=common.CF_TOKEN)
    server = serve_emulator(emulator)
    results: dict = {}
    try:
        with progress.measuring("cold start", f"{p['repeat']} pair(s) of switch and trivial processes, "
                                              f"alternating{' (after one warm-up pair)' if p['warmup'] else ''}") as s:
            results["cold_start"] = coldstart.measure(emulator, p["repeat"], p["warmup"], progress.line)
            c = results["cold_start"]
            s["text"] = (f"first useful answer {c['switch']['useful_s']:.2f} s vs trivial "
                         f"{c['trivial']['first_s']:.2f} s = {c['ratio_useful']:.2f}x; worker peak RSS "
                         f"{c['switch']['worker_hwm_mb']} MB")

        with progress.measuring("imports", f"what the first request loads and builds ({p['import_runs']} run(s) "
                                           "+ one under -X importtime)") as s:
            results["imports"] = imports.measure(emulator, p["import_runs"])
            s["text"] = ", ".join(f"{k} {v:.0f} ms" for k, v in list(results["imports"]["pieces_ms"].items())[:5])

        with cost.InProcess(emulator, server) as function:
            with progress.measuring("API calls", "round trips per event type (warm instance)") as s:
                results["api_calls"] = cost.api_calls(emulator, function, p["ready_delay_for_counts"])
                a = results["api_calls"]
                s["text"] = ", ".join(f"{k} {v['google']} Google + {v['cloudflare']} Cloudflare" for k, v in a.items())

            with progress.measuring("per-event", f"{p['throughput_n']} duplicate opens and {p['throughput_n']} "
                                                 "GET /status, in process, one at a time") as s:
                results["per_event"] = cost.throughput(emulator, function, p["throughput_n"])
                e = results["per_event"]
                s["text"] = (f"duplicate open {e['duplicate_open']['events_per_s']}/s, status "
                             f"{e['status']['events_per_s']}/s")

            with progress.measuring("baseline", f"the blog post's failover: {p['baseline_duplicates']} duplicate "
                                                f"opens, {p['repeat']} fresh failover(s), each next to switch's") as s:
                results["baseline"] = cost.baseline(emulator, function, p["baseline_duplicates"], p["repeat"])
                b = results["baseline"]
                s["text"] = (f"duplicate open {b['duplicate_open']['latency_ratio']}x switch's latency, fresh "
                             f"failover {b['fresh_failover']['latency_ratio']}x")

        with progress.measuring("time to recovery", f"T = {', '.join(f'{d:g}' for d in p['delays'])} s, "
                                                    f"{p['samples_per_delay']} alert(s) each") as s:
            results["time_to_recovery"] = recovery.measure(emulator, p["delays"], p["samples_per_delay"],
                                                           with_baseline=True, progress=progress.line)
            s["text"] = f"max overhead {results['time_to_recovery']['max_overhead_s']:.3f} s beyond T"

        with progress.measuring("modes", f"event → traffic switched for {', '.join(modes.MODES)}; "
                                         f"T = {p['modes_ready_delay']:g} s, {p['modes_samples']} sample(s) each") as s:
            results["modes"] = modes.measure(emulator, p["modes_ready_delay"], p["modes_samples"], progress.line)
            s["text"] = ", ".join(f"{k} {v['event_to_traffic_s']:.2f} s" for k, v in results["modes"]["modes"].items())

        with progress.measuring("sites", f"a reconcile of every site with nothing to do, for "
                                         f"{', '.join(str(n) for n in sites.COUNTS)} sites (in process)") as s:
            results["sites"] = sites.measure(emulator, p["repeat"], progress.line)
            s["text"] = ", ".join(f"{r['sites']}: {r['reconcile_s'] * 1000:.0f} ms" for r in results["sites"]["rows"])
    finally:
        server.stop()

    results["budget"] = budget_mod.budgets(results["cold_start"]["switch"]["useful_s"], own_time(results["modes"]))
    return results


def own_time(measured: dict) -> dict[str, float]:
    """The function's own time per mode: event to traffic, less the ready delay T where it waited for it."""
    delay = measured["ready_delay_s"]
    return {mode: round(max(row["event_to_traffic_s"] - (delay if row["created"] else 0.0), 0.0), 3)
            for mode, row in measured["modes"].items()}


# -- verdicts and the table --------------------------------------------------------------


def verdicts(results: dict) -> list[dict]:
    """Each figure with its bar: PASS, MISS (and by how much), or info (no bar)."""
    c, a, t, e, b, i = (results["cold_start"], results["api_calls"], results["time_to_recovery"],
                        results["per_event"], results["baseline"], results["imports"]["pieces_ms"])
    rows = []

    def row(figure, value, bar="", ok=None, miss="", group=""):
        verdict = "" if ok is None else ("PASS" if ok else "MISS")
        rows.append({"group": group, "figure": figure, "value": value, "bar": bar, "verdict": verdict,
                     "miss": miss if ok is False else ""})

    g = "cold start"
    ratio = c["ratio_useful"]
    row("first useful answer ÷ trivial",
        f"{ratio:.2f}x ({c['switch']['useful_s']:.2f} s / {c['trivial']['first_s']:.2f} s)",
        f"< {BARS['cold_start_ratio']}x", ratio < BARS["cold_start_ratio"],
        f"by {ratio - BARS['cold_start_ratio']:.2f}x ({(ratio / BARS['cold_start_ratio'] - 1) * 100:.0f} %): the "
        f"first request spends {c['first_request_penalty_s'] * 1000:.0f} ms on imports and clients", g)
    row("first answer (a 401) ÷ trivial", f"{c['ratio_first']:.2f}x ({c['switch']['first_s']:.2f} s)",
        "info", None, group=g)
    lazy = sum(v for k, v in i.items() if k.startswith("import ") and k != "import main.py (create_app)")
    row("first request: lazy imports / client build",
        f"{lazy:.0f} ms / {i['build the Run v1 discovery client']:.0f} ms "
        f"(googleapiclient {i['import googleapiclient.discovery']:.0f} ms)", "info", None, group=g)
    if c.get("projected_useful_s"):
        shares = ", ".join(f"{share} vCPU {secs:g} s" for share, secs in c["projected_useful_s"].items())
        row("CPU to the first useful answer, and the start it makes",
            f"{c['switch']['cpu_s']:.2f} CPU s (trivial {c['trivial']['cpu_s']:.2f}): {shares}", "info", None, group=g)
    rss = c["switch"]["worker_hwm_mb"]
    row("peak RSS, gunicorn worker (VmHWM)", f"{rss} MB (trivial {c['trivial']['worker_hwm_mb']} MB)",
        f"< {BARS['peak_rss_mb']:.0f} MB", rss is not None and rss < BARS["peak_rss_mb"],
        f"by {(rss or 0) - BARS['peak_rss_mb']:.1f} MB", g)
    row("process tree PSS (shared pages once)",
        f"{c['switch']['tree_pss_mb']} MB (trivial {c['trivial']['tree_pss_mb']} MB)", "info", None, group=g)

    g = "API calls"
    dup = a["duplicate_open"]
    row("duplicate open: Google calls", f"{dup['google']} (+{dup['cloudflare']} Cloudflare)", "= 1",
        dup["google"] == BARS["duplicate_open_google_calls"], f"by {dup['google'] - 1}", g)
    fresh = a["fresh_failover"]
    extra = f": {', '.join(fresh['beyond_bound'])}" if fresh["beyond_bound"] else ""
    row("fresh failover: Google calls",
        f"{fresh['google']} ({fresh['ready_polls']} ready polls, T={fresh['ready_delay_s']:g} s)",
        f"≤ {fresh['bound']}: get+create+polls+mark",
        fresh["google"] <= fresh["bound"], f"by {fresh['google'] - fresh['bound']}{extra}", g)
    row("fresh failover: traffic calls (Cloudflare)", str(fresh["cloudflare"]), "≤ 1: the traffic call",
        fresh["cloudflare"] <= 1, f"by {fresh['cloudflare'] - 1}: the ruleset is read before the rule is written", g)
    for key, label in (("failback", "failback: Google calls"),
                       ("reconcile_nothing_to_do", "reconcile, idle (ALERT_POLICY set): Google"),
                       ("status", "GET /status: Google calls")):
        row(label, f"{a[key]['google']} (+{a[key]['cloudflare']} Cloudflare)", "info", None,
            group=g)
    row("new connections per event, switch / baseline",
        f"{e['duplicate_open']['new_connections_per_event']:g} / "
        f"{b['duplicate_open']['baseline']['new_connections_per_event']:g}", "info", None, group=g)

    g = "per event (warm, in process)"
    for key, label in (("duplicate_open", "duplicate open"), ("status", "GET /status")):
        x = e[key]
        row(f"{label}: events/s, p50 / p99",
            f"{x['events_per_s']:g}/s, {x['p50_ms']:.1f} / {x['p99_ms']:.1f} ms (own p50 {x['own_p50_ms']:.1f})",
            "info", None, group=g)
    row("baseline ÷ switch: duplicate open p50", f"{b['duplicate_open']['latency_ratio']:.2f}x",
        "info", None, group=g)
    row("baseline ÷ switch: fresh failover (T=0)", f"{b['fresh_failover']['latency_ratio']:.2f}x",
        "info", None, group=g)

    g = "time to recovery"
    for r in t["rows"]:
        warm = f", warm {r['warm_overhead_median_s']:.2f}" if r["warm"] else ""
        base = f", baseline {r['baseline_overhead_s']:.2f}" if "baseline_overhead_s" in r else ""
        row(f"T = {r['ready_delay_s']:g} s: overhead beyond T", f"cold {r['cold']['overhead_s']:.2f}{warm}{base} s",
            "info", None, group=g)
    worst = t["max_overhead_s"]
    row("own overhead beyond T, max", f"{worst:.3f} s", f"< {BARS['recovery_overhead_s']:g} s",
        worst < BARS["recovery_overhead_s"], f"by {worst - BARS['recovery_overhead_s']:.3f} s", g)
    w = t["work_s"]
    row("work beyond polling: cold / warm / baseline*",
        f"{w['cold_median']:.2f} / {w['warm_median']:.2f}"
        + (f" / {w['baseline_median']:.2f}" if w["baseline_median"] is not None else "") + " s", "info", None,
        group=g)
    row("any T, by the poll schedule: worst / expected",
        f"cold {t['worst_case_overhead_s']['cold']:.2f} / {t['expected_overhead_s']['cold']:.2f} s, warm "
        f"{t['worst_case_overhead_s']['warm']:.2f} / {t['expected_overhead_s']['warm']:.2f} s", "info", None,
        group=g)

    g = "event → traffic switched, per mode"
    m = results["modes"]
    for mode, x in m["modes"].items():
        what = (f"{'create, ' if x['created'] else 'no create, '}{x['iam_writes']} IAM write(s), "
                f"{x['google_calls']} Google + {x['cloudflare_calls']} Cloudflare calls")
        if x["created"]:
            bar = f"< T + {BARS['recovery_overhead_s']:g} s"
            ok = x["event_to_traffic_s"] < m["ready_delay_s"] + BARS["recovery_overhead_s"]
        else:
            bar = f"< {BARS['standby_failover_s']:g} s"
            ok = x["event_to_traffic_s"] < BARS["standby_failover_s"]
        row(f"{mode} (T = {m['ready_delay_s']:g} s)", f"{x['event_to_traffic_s']:.3f} s; {what}", bar, ok,
            f"by {x['event_to_traffic_s'] - (m['ready_delay_s'] if x['created'] else 0) - 1:.3f} s", g)

    g = "several sites in one function"
    bar = BARS["idle_reconcile_google_calls_per_site"]
    for r in results["sites"]["rows"]:
        row(f"reconcile of {r['sites']} site(s), nothing to do",
            f"{r['reconcile_s'] * 1000:.0f} ms; {r['google']} Google + {r['cloudflare']} Cloudflare calls "
            f"({r['google_per_site']:g} + {r['cloudflare_per_site']:g} a site)",
            f"≤ {bar} Google a site", r["google_per_site"] <= bar, f"by {r['google_per_site'] - bar:g} a site", g)
    last = results["sites"]["rows"][-1]
    row(f"duplicate open of one site of {last['sites']}: Google calls", str(last["duplicate_open_google"]), "= 1",
        last["duplicate_open_google"] == 1, f"by {last['duplicate_open_google'] - 1}", g)
    return rows


def table(rows: list[dict]) -> str:
    widths = [max(len(r["figure"]) for r in rows), max(len(r["value"]) for r in rows),
              max(len(r["bar"]) for r in rows)]
    lines, group = [], None
    for r in rows:
        if r["group"] != group:
            group = r["group"]
            lines.append(f"\n{group}")
        lines.append(f"  {r['figure']:<{widths[0]}}  {r['value']:<{widths[1]}}  {r['bar']:<{widths[2]}}  "
                     f"{r['verdict']}".rstrip())
        if r["miss"]:
            lines.append(f"  {'':<{widths[0]}}  ↳ missed {r['miss']}")
    return "\n".join(lines)


def budget_table(b: dict) -> str:
    lines = []
    for mode, x in b["modes"].items():
        lines.append(f"  {mode}")
        for r in x["rows"]:
            lines.append(f"    {r['stage']:<118} {r['best_s']:>5g}s {r['typical_s']:>6g}s {r['worst_s']:>5g}s")
        t, m = x["total_s"], x["total_min"]
        lines.append(f"    {'total':<118} {t['best']:>5g}s {t['typical']:>6g}s {t['worst']:>5g}s  "
                     f"= {m['best']:g} / {m['typical']:g} / {m['worst']:g} min")
    compare = b["compare_min"]
    lines.append(f"  compare: the original {compare['original (blog post)']:g} min; Route 53 health-check "
                 f"failover {compare['Route 53 health-check failover'][0]:g}–"
                 f"{compare['Route 53 health-check failover'][1]:g} min")
    return "\n".join(lines)


def machine_line(m: dict) -> str:
    return (f"{m['cpu_model']}, {m['cores']} cores ({m['usable_cores']} usable), {m['memory_mb']} MB, "
            f"Python {m['python']} on {m['platform']}")


def markdown(report: dict) -> str:
    m = report["machine"]
    out = [f"Taken {report['date']} on {machine_line(m)}; load average at start "
           f"{', '.join(str(x) for x in m['load_average_at_start'] or [])}. Mode: {report['mode']} "
           f"(repeat {report['repeat']}), {report['elapsed_s']:.0f} s. Command: `{report['command']}`.", "",
           "| | figure | value | bar | verdict |", "|---|---|---|---|---|"]
    for r in report["verdicts"]:
        verdict = r["verdict"] + (f" ({r['miss']})" if r["miss"] else "")
        out.append(f"| {r['group']} | {r['figure']} | {r['value']} | {r['bar']} | {verdict} |")
    for mode, x in report["results"]["budget"]["modes"].items():
        out += ["", f"**{mode}**", "", "| stage | best | typical | worst |", "|---|---:|---:|---:|"]
        for r in x["rows"]:
            out.append(f"| {r['stage']} | {r['best_s']:g} s | {r['typical_s']:g} s | {r['worst_s']:g} s |")
        t, mi = x["total_s"], x["total_min"]
        out.append(f"| **total** | **{t['best']:g} s ({mi['best']:g} min)** | "
                   f"**{t['typical']:g} s ({mi['typical']:g} min)** | **{t['worst']:g} s ({mi['worst']:g} min)** |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # python -m switch bench -- --quick: argparse hands the separator on
        argv = argv[1:]
    args = parse(argv)
    p = plan(args)
    progress = common.Progress()
    began = time.monotonic()
    machine = common.machine()
    progress.line(f"switch bench ({p['mode']}) on {machine_line(machine)}")
    try:
        results = measure_all(p, progress)
    except Exception as exc:  # say what failed; the traceback helps in CI
        progress.line(f"✗ the benchmark failed: {type(exc).__name__}: {exc}")
        raise
    elapsed = time.monotonic() - began
    rows = verdicts(results)
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m switch bench" + (" --quick" if args.quick else "")
                   + (f" --repeat {args.repeat}" if args.repeat else ""),
        "mode": p["mode"], "repeat": p["repeat"], "plan": p, "elapsed_s": round(elapsed, 1),
        "machine": machine, "bars": BARS, "verdicts": rows, "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(report))

    print(f"switch bench — {p['mode']}, {report['date']}, {elapsed:.0f} s")
    print(f"machine: {machine_line(machine)}")
    print(table(rows))
    print("\nend-to-end budget, outage → working site, per mode (computed from cited stage figures)")
    print(budget_table(results["budget"]))
    missed = [r for r in rows if r["verdict"] == "MISS"]
    print(f"\n{len([r for r in rows if r['verdict'] == 'PASS'])} bars met, {len(missed)} missed"
          f"{': ' + '; '.join(r['figure'] for r in missed) if missed else ''}")
    print(f"JSON: {args.out}")
    # Missing a bar is a finding, not a failure: the smoke run must run, not meet a time.
    return 0


if __name__ == "__main__":
    sys.exit(main())
