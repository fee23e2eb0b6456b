"""The end-to-end budget from outage to a working site, for the default setup
(``python -m switch setup``: 60 s uptime check from three regions, an alert
that needs two regions failing for 60 s on a 60 s alignment).

Computed, not measured: each row is a documented figure or a stated
assumption, plus the two things this benchmark measures (the function's cold
start here and its own overhead). Sources are the project's reference notes
(shared/reference/monitoring.md, cloudrun.md, cloudflare.md).
"""

from __future__ import annotations

ORIGINAL_MINUTES = 13.0
ROUTE53_MINUTES = (1.5, 2.5)


def budget(cold_start_s: float, overhead_s: float) -> dict:
    """Seconds per stage, best / typical / worst."""
    function_best = round(cold_start_s + overhead_s, 1)
    rows = [
        ("uptime check notices the outage (period 60 s: the first failing check comes 0–60 s after it)",
         0, 30, 60, "monitoring.md: period 60s"),
        ("alert condition holds for its duration (60 s) plus up to one alignment period (60 s)",
         60, 90, 120, "monitoring.md: duration 60s, alignmentPeriod 60s; detection latency not documented"),
        ("notification delivered to the function", 1, 5, 30, "assumption: no published figure"),
        ("function: cold start + own overhead (best: measured here; else a cloud instance start)",
         function_best, 3, 10, "measured locally; a Cloud Functions instance start is not measured here"),
        ("T: Cloud Run creates the replica and reports Ready", 10, 60, 130,
         "cloudrun.md §5: observed ≈129 s for a hello image; small images start faster"),
        ("the allUsers grant reaches Google's front end (the function waits for it, at most "
         "SWITCH_PUBLIC_TIMEOUT_SECONDS = 120 s, then switches anyway)", 5, 60, 120,
         "cloudrun.md §6: ~2 min, up to 7+; commit 2ecb105"),
        ("Cloudflare redirect reaches the edge", 5, 30, 60, "cloudflare.md §4: generally ≤60 s, not confirmed"),
    ]
    totals = [round(sum(r[i] for r in rows), 1) for i in (1, 2, 3)]
    return {
        "rows": [{"stage": r[0], "best_s": r[1], "typical_s": r[2], "worst_s": r[3], "source": r[4]} for r in rows],
        "total_s": {"best": totals[0], "typical": totals[1], "worst": totals[2]},
        "total_min": {"best": round(totals[0] / 60, 1), "typical": round(totals[1] / 60, 1),
                      "worst": round(totals[2] / 60, 1)},
        "compare_min": {"original (blog post)": ORIGINAL_MINUTES,
                        "Route 53 health-check failover": list(ROUTE53_MINUTES)},
        "not_counted": [
            "IAM past 120 s: Google gives up to 7+ min for an access change; past the function's wait, visitors "
            "are redirected and see Google's 403 until the grant lands",
            "the function's own share is under a second of a budget of minutes: the stages that dominate are "
            "Cloud Monitoring's detection (check period + duration + alignment) and T",
        ],
        "levers": [
            "--alert-duration 0 (setup): fires on the first aligned failing point from two regions; saves 60 s",
            "a replica created ahead of time and kept at zero instances would take T out of the outage path "
            "(a design change: today the replica is created on the alert)",
        ],
    }
