"""Status: every part of the state as it is now, each part's trouble reported on that part alone."""

from __future__ import annotations

from ..errors import NotManaged, SwitchError
from .report import ACTIVE, STANDBY


def status(sw) -> dict:
    settings = sw.settings
    answer = {"state": None, **({"site": settings.site} if settings.site else {}), "service": settings.service,
              "project": settings.project, "region": settings.region,
              "standby": settings.standby, "probe_failover_after": settings.probe_failover_after or None,
              "replica": None, "traffic": None, "warnings": []}
    replica = sw.run.get()  # the one part without which there is no answer
    if replica is not None and not replica.managed:
        raise NotManaged(f"a Cloud Run service named {settings.service!r} exists but was not created by "
                         f"switch; it is left untouched")
    answer["state"] = ACTIVE if replica is not None and replica.serving else STANDBY
    if replica is not None:
        answer["url"] = replica.url
        answer["replica"] = {
            "ready": replica.ready, "message": replica.message or None, "url": replica.url, "image": replica.image,
            "revision": replica.revision or None, "role": "warm standby" if settings.standby else "replica",
            "probe_failures": replica.probe_failures if settings.probe_failover_after else None,
            "current": replica.matches(settings) if settings.image else None,
            "pinned": replica.pinned, "incident": replica.incident, "serving": replica.serving,
            "activated_at": replica.activated_at, "close_pending": replica.close_pending,
            "active_seconds": int(sw.wall() - replica.activated_at) if replica.activated_at else None,
        }
    try:
        traffic = sw.router.current()
        answer["traffic"] = {"router": sw.router.name, "configured": traffic.configured, "enabled": traffic.enabled,
                             "target": traffic.target, "detail": traffic.detail or None}
    except SwitchError as exc:
        answer["traffic"] = {"router": sw.router.name, "configured": True, "error": exc.message}
    if sw.domains is not None:
        try:
            mapping = sw.domains.get(settings.failover_domain)
            answer["domain"] = None if mapping is None else {
                "host": mapping.host, "route": mapping.route, "managed": mapping.managed,
                "conditions": mapping.conditions, "dns_records": mapping.records}
        except SwitchError as exc:
            answer["domain"] = {"host": settings.failover_domain, "error": exc.message}
    if sw.alerts is not None:
        try:
            answer["alert_open"] = sw.alerts.any_open()
        except SwitchError as exc:
            answer["alert_open"] = None
            answer["warnings"].append(f"could not read the open alerts: {exc.message}")
    if settings.standby and replica is None:
        answer["warnings"].append("the warm standby is on (standby = true) but there is none yet; the next "
                                  "reconcile creates it (or run: python -m switch reconcile)")
    if not settings.probe_url:
        answer["warnings"].append("failback is unprobed: SWITCH_HOME_URL is not set, so switch fails back on the "
                                  "closing alert alone, without checking that the home site answers")
    return answer
