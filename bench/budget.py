"""The end-to-end budget from outage to a working site, for each way of running switch.

Computed, not measured: each row is a documented figure or a stated
assumption, plus what this benchmark measures (the function's cold start here,
and for each mode its own time from the event to traffic switched). Sources
are the project's reference notes (shared/reference/monitoring.md,
cloudrun.md, cloudflare.md) and the pages they cite.

The modes (bench/modes.py):

- ``on-demand, IAM grant``: created on the alert, public by an allUsers grant
  (an organization policy keeps the invoker IAM check on);
- ``on-demand``: created on the alert, public at creation (the default);
- ``standby``: SWITCH_STANDBY=true, default setup (alert duration 60 s);
- ``standby + probe``: also SWITCH_PROBE_FAILOVER_AFTER=2 with ``setup --fast``
  (the reconcile job every minute, alert duration 0): whichever of the two
  detections fires first.
"""

from __future__ import annotations

ORIGINAL_MINUTES = 13.0
ROUTE53_MINUTES = (1.5, 2.5)

CHECK = ("uptime check notices the outage (period 60 s: the first failing check comes 0–60 s after it)",
         0, 30, 60, "monitoring.md: period 60s")
ALERT_60 = ("alert condition holds for its duration (60 s) plus up to one alignment period (60 s)",
            60, 90, 120, "monitoring.md: duration 60s, alignmentPeriod 60s; detection latency not documented")
NOTIFY = ("notification delivered to the function", 1, 5, 30, "assumption: no published figure")
# setup --fast: the alert at duration 0, or the second failed reconcile round a minute after the first.
FAST_DETECTION = ("detection, whichever is first: the alert at duration 0 (check 0–60 s + alignment 0–60 s + "
                  "notification) or the 2nd failed reconcile round in a row (rounds a minute apart: 60–120 s)",
                  1, 65, 120, "monitoring.md: period and alignment 60s; Cloud Scheduler every minute")
READY = ("T: Cloud Run creates the replica and reports Ready", 10, 60, 130,
         "cloudrun.md §5: observed ≈129 s for a hello image; small images start faster")
IAM = ("the allUsers grant reaches Google's front end (the function waits for it, at most "
       "SWITCH_PUBLIC_TIMEOUT_SECONDS = 120 s, then switches anyway)", 5, 60, 120,
       "cloudrun.md §6: ~2 min, up to 7+ (cloud.google.com/iam/docs/access-change-propagation)")
WAKE = ("the standby's first instance starts (woken by the failover's one request, while the redirect spreads)",
        0, 0, 10, "assumption: a small image's container start, overlapping the next row")
EDGE = ("Cloudflare redirect reaches the edge", 5, 30, 60, "cloudflare.md §4: generally ≤60 s, not confirmed")


def _function_row(cold_start_s: float, own_s: float) -> tuple:
    return ("function: its instance's cold start + its own time from the event to traffic switched "
            "(best: measured here; else a cloud instance start)",
            round(cold_start_s + own_s, 1), 3, 10,
            "measured locally; a Cloud Run functions instance start is not measured here")


def _mode(rows: list[tuple]) -> dict:
    totals = [round(sum(r[i] for r in rows), 1) for i in (1, 2, 3)]
    return {
        "rows": [{"stage": r[0], "best_s": r[1], "typical_s": r[2], "worst_s": r[3], "source": r[4]} for r in rows],
        "total_s": {"best": totals[0], "typical": totals[1], "worst": totals[2]},
        "total_min": {"best": round(totals[0] / 60, 1), "typical": round(totals[1] / 60, 1),
                      "worst": round(totals[2] / 60, 1)},
    }


def budgets(cold_start_s: float, own_s: dict[str, float]) -> dict:
    """Seconds per stage, best / typical / worst, for each mode; ``own_s``: the function's own time per mode."""
    def fn(mode: str) -> tuple:
        return _function_row(cold_start_s, own_s.get(mode, 0.0))

    modes = {
        "on-demand, IAM grant": [CHECK, ALERT_60, NOTIFY, fn("on-demand, IAM grant"), READY, IAM, EDGE],
        "on-demand": [CHECK, ALERT_60, NOTIFY, fn("on-demand"), READY, EDGE],
        "standby": [CHECK, ALERT_60, NOTIFY, fn("standby"), WAKE, EDGE],
        "standby + probe": [FAST_DETECTION, fn("standby + probe"), WAKE, EDGE],
    }
    return {
        "modes": {name: _mode(rows) for name, rows in modes.items()},
        "compare_min": {"original (blog post)": ORIGINAL_MINUTES,
                        "Route 53 health-check failover": list(ROUTE53_MINUTES)},
        "not_counted": [
            "IAM past 120 s (on-demand, IAM grant only): Google gives up to 7+ min for an access change; past the "
            "function's wait, visitors are redirected and see Google's 403 until the grant lands",
            "the function's own share is under a second: detection dominates every mode, and T the on-demand ones",
        ],
    }
