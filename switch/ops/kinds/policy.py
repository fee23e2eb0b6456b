"""Alert policy: fires when more than one region fails the uptime check, and notifies on open and close.

It points at the channel and the check, so it comes after both; what others
added to it (channels, labels, alert strategy settings) is kept. Editing a
policy while an incident is open closes that incident with a "cancelled"
notification (monitoring.md §2), so an update says so first.
"""

from __future__ import annotations

from .. import marks
from ..engine import Kind, Row
from ...errors import SwitchError, UpstreamError
from .check import REGIONS, seconds

CHECK_METRIC = "monitoring.googleapis.com/uptime_check/check_passed"
CHANNEL = "notification channel"
CHECK = "uptime check"


def display_name(settings, target) -> str:
    # The function finds open alerts by this name (SWITCH_ALERT_POLICY) when it reconciles.
    return settings.alert_policy or f"switch: {target.host} down"


def _documentation(settings, target) -> str:
    scheme = "https" if target.use_ssl else "http"
    probe = f"{scheme}://{target.host}{'' if target.port in (80, 443) else f':{target.port}'}{target.path}"
    return (
        f"**switch** watches `{probe}` from {len(REGIONS)} regions; this policy fires when more than one "
        f"region fails for {target.duration} s.\n\n"
        f"- **When it opens**, switch creates the Cloud Run service `{target.service}` (project "
        f"`{target.project}`, region `{settings.region}`) from the site's image, waits until it is ready, makes it "
        f"public and sends visitors to it.\n"
        f"- **When it closes**, switch probes `{probe}` until it answers 2xx {settings.probe_count} times in a row, "
        f"sends visitors home and deletes the replica.\n\n"
        f"The health path is left out of the redirect, so the check keeps testing the home origin during a "
        f"failover. By hand: `python -m switch status | failover | failback`."
    )


def body(settings, target, channel_name: str, check_name: str) -> dict:
    check_id = check_name.rsplit("/", 1)[-1]
    return {
        "displayName": display_name(settings, target),
        "combiner": "OR",
        "severity": "CRITICAL",
        "enabled": True,
        "userLabels": marks.labels(target.service, site=target.site),
        "notificationChannels": [channel_name],
        # Without CLOSED there is no failback notification.
        "alertStrategy": {"notificationPrompts": ["OPENED", "CLOSED"]},
        "documentation": {"content": _documentation(settings, target), "mimeType": "text/markdown"},
        "conditions": [{
            "displayName": f"Failure of uptime check_id {check_id}",
            "conditionThreshold": {
                "filter": (f'metric.type="{CHECK_METRIC}" AND metric.label.check_id="{check_id}" '
                           f'AND resource.type="uptime_url"'),
                "aggregations": [{"alignmentPeriod": "60s", "perSeriesAligner": "ALIGN_NEXT_OLDER",
                                  "crossSeriesReducer": "REDUCE_COUNT_FALSE",
                                  "groupByFields": ["resource.label.*"]}],
                # REDUCE_COUNT_FALSE > 1: at least two checker locations fail.
                "comparison": "COMPARISON_GT",
                "thresholdValue": 1,
                "duration": f"{target.duration}s",
                "trigger": {"count": 1},
            },
        }],
    }


def _condition_key(condition: dict) -> tuple:
    t = condition.get("conditionThreshold") or {}
    trigger = t.get("trigger") or {"count": 1}
    aggregations = tuple(
        (seconds(a.get("alignmentPeriod")), a.get("perSeriesAligner"), a.get("crossSeriesReducer"),
         tuple(sorted(a.get("groupByFields") or [])))
        for a in t.get("aggregations") or []
    )
    threshold = t.get("thresholdValue")
    return (condition.get("displayName"), t.get("filter"), aggregations, t.get("comparison"),
            float(threshold) if threshold is not None else None, seconds(t.get("duration")) or 0.0,
            trigger.get("count"), trigger.get("percent"))


def _key(body: dict) -> dict:
    documentation = body.get("documentation") or {}
    return {
        "displayName": body.get("displayName", ""),
        "combiner": body.get("combiner"),
        "severity": body.get("severity"),
        "enabled": body.get("enabled", True) is not False,
        "userLabels": marks.our_labels(body.get("userLabels")),
        "notificationChannels": sorted(body.get("notificationChannels") or []),
        "alertStrategy": sorted((body.get("alertStrategy") or {}).get("notificationPrompts") or []),
        "documentation": (documentation.get("content"), documentation.get("mimeType")),
        "conditions": [_condition_key(c) for c in body.get("conditions") or []],
    }


def open_alerts(ctx, policy: dict) -> list[dict]:
    """Open alerts of ``policy``. The server filter syntax is not confirmed for REST, so a
    refused filter falls back to listing, and the match is always made here."""
    alerts_api = ctx.api.monitoring.alerts()
    try:
        alerts = ctx.api.list_all(alerts_api, "alerts", "monitoring", "list alerts",
                                  parent=ctx.api.parent, filter='state = "OPEN"')
    except UpstreamError as exc:
        if exc.status_code != 400:
            raise
        alerts = ctx.api.list_all(alerts_api, "alerts", "monitoring", "list alerts", parent=ctx.api.parent)

    def matches(alert: dict) -> bool:
        about = alert.get("policy") or {}
        if about.get("name"):
            return about["name"] == policy.get("name")
        return about.get("displayName") == policy.get("displayName")

    return [a for a in alerts if str(a.get("state", "")).upper() == "OPEN" and matches(a)]


class AlertPolicy(Kind):
    label = "alert policy"

    def _collection(self, ctx):
        return ctx.api.monitoring.alertPolicies()

    def find(self, ctx):
        return ctx.api.list_all(self._collection(ctx), "alertPolicies", "monitoring", "list alert policies",
                                name=ctx.api.parent)

    def ours(self, ctx, item):
        return marks.ours(item, ctx.settings.service)

    def desired(self, ctx):
        return body(ctx.settings, ctx.target, ctx.names[CHANNEL], ctx.names[CHECK])

    def adopt(self, ctx, desired, found):
        # Keep what others added: channels that are not ours, labels, alert strategy settings.
        foreign = [c for c in found.get("notificationChannels") or [] if c not in ctx.ours.get(CHANNEL, set())]
        desired["notificationChannels"] = [ctx.names[CHANNEL]] + foreign
        desired["userLabels"] = {**(found.get("userLabels") or {}), **desired["userLabels"]}
        desired["alertStrategy"] = {**(found.get("alertStrategy") or {}), **desired["alertStrategy"]}
        existing = found.get("conditions") or []
        if len(existing) == 1 and existing[0].get("name"):
            desired["conditions"] = [{**desired["conditions"][0], "name": existing[0]["name"]}]  # keeps its id
        return desired

    def changes(self, ctx, desired, found):
        want, have = _key(desired), _key(found)
        return [name for name in want if want[name] != have[name]]

    def before_update(self, ctx, found):
        try:
            if open_alerts(ctx, found):
                ctx.rec.out("note: an alert of this policy is open; Cloud Monitoring closes it when the policy "
                            "changes (a 'cancelled' closing notification), and switch re-probes the home site "
                            "before failing back")
        except SwitchError:
            pass  # only a warning; the update itself will say if something is wrong

    def create(self, ctx, body):
        return ctx.api.call(self._collection(ctx).create(name=ctx.api.parent, body=body), "monitoring",
                            "create alert policy")

    def update(self, ctx, found, body, mask):
        ctx.api.call(self._collection(ctx).patch(name=found["name"], updateMask=mask, body=body), "monitoring",
                     "update alert policy")

    def delete(self, ctx, item):
        ctx.api.call(self._collection(ctx).delete(name=item["name"]), "monitoring", f"delete {self.label}")

    def status_row(self, ctx, items):
        row = super().status_row(ctx, items)
        if not items:
            return row
        try:
            alerts = open_alerts(ctx, items[0])
            answer = f"alert open: yes (since {alerts[0].get('openTime', '?')})" if alerts else "alert open: no"
        except SwitchError as exc:
            answer = f"alert open: unknown ({exc.message})"
        return Row(row.part, row.state, row.name, f"{items[0].get('displayName', '')}; {answer}")
