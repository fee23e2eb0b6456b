"""Uptime check: Cloud Monitoring asks the home site's health path every minute from three regions.

Monitoring can update only ``display_name, http_check, tcp_check, timeout,
content_matchers, selected_regions`` of a check (UpdateUptimeCheckConfigRequest),
so a new host or period means a new check: create it, point the policy at it,
delete the old one.
"""

from __future__ import annotations

from .. import marks
from ..engine import Kind
from .channel import _delete_monitoring

PERIOD = "60s"
TIMEOUT = "10s"
# Each of these is at least one checker location; Monitoring wants >= 3 locations.
REGIONS = ("USA", "EUROPE", "ASIA_PACIFIC")


def body(target) -> dict:
    return {
        "displayName": f"switch {target.service}: {target.host}{target.path}",
        "period": PERIOD,
        "timeout": TIMEOUT,
        "monitoredResource": {"type": "uptime_url", "labels": {"project_id": target.project, "host": target.host}},
        # The health path is excluded from the Cloudflare redirect, so during a
        # failover the check keeps asking the home origin and sees it recover.
        "httpCheck": {"requestMethod": "GET", "useSsl": target.use_ssl, "validateSsl": target.use_ssl,
                      "path": target.path, "port": target.port},
        "selectedRegions": list(REGIONS),
        "userLabels": marks.labels(target.service, site=target.site),
    }


def seconds(value) -> float | None:
    """Seconds of a JSON Duration ("60s"), or None."""
    if value in (None, ""):
        return None
    try:
        return float(str(value).rstrip("s"))
    except ValueError:
        return None


def http_key(check: dict) -> tuple:
    http = check.get("httpCheck") or {}
    use_ssl = bool(http.get("useSsl", False))  # proto3 JSON leaves false out
    return (http.get("requestMethod") or "GET", use_ssl, bool(http.get("validateSsl", False)),
            http.get("path") or "/", int(http.get("port") or (443 if use_ssl else 80)))


def _key(body: dict) -> dict:
    return {
        "displayName": body.get("displayName", ""),
        "timeout": seconds(body.get("timeout")),
        "selectedRegions": sorted(body.get("selectedRegions") or []),
        "httpCheck": http_key(body),
    }


class UptimeCheck(Kind):
    label = "uptime check"

    def _collection(self, ctx):
        return ctx.api.monitoring.uptimeCheckConfigs()

    def find(self, ctx):
        return ctx.api.list_all(self._collection(ctx), "uptimeCheckConfigs", "monitoring", "list uptime checks",
                                parent=ctx.api.parent)

    def ours(self, ctx, item):
        return marks.ours(item, ctx.settings.service)

    def desired(self, ctx):
        return body(ctx.target)

    def fixed(self, body):
        resource = body.get("monitoredResource") or {}
        labels = resource.get("labels") or {}
        return resource.get("type"), labels.get("host"), labels.get("project_id"), seconds(body.get("period"))

    def replaced_because(self, found, desired):
        old_host = ((found.get("monitoredResource") or {}).get("labels") or {}).get("host")
        return f"replaced: host {old_host}, period {found.get('period')}"

    def changes(self, ctx, desired, found):
        want, have = _key(desired), _key(found)
        return [name for name in want if want[name] != have[name]]

    def create(self, ctx, body):
        return ctx.api.call(self._collection(ctx).create(parent=ctx.api.parent, body=body), "monitoring",
                            "create uptime check")

    def update(self, ctx, found, body, mask):
        ctx.api.call(self._collection(ctx).patch(name=found["name"], updateMask=mask, body=body), "monitoring",
                     "update uptime check")

    def delete(self, ctx, item):
        _delete_monitoring(ctx, self._collection(ctx), item, self.label)

    def describe(self, ctx, item):
        method, use_ssl, _, path, port = http_key(item)
        host = ((item.get("monitoredResource") or {}).get("labels") or {}).get("host", "?")
        scheme = "https" if use_ssl else "http"
        regions = ", ".join(item.get("selectedRegions") or ["all regions"])
        return f"{method} {scheme}://{host}:{port}{path} every {item.get('period', '?')} from {regions}"
