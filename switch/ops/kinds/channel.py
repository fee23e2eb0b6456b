"""Notification channel: how Cloud Monitoring calls switch (webhook with Basic auth or a token, or Pub/Sub).

A channel's ``type`` cannot be changed, so a new type (basic → pubsub) is a
new channel; the old one goes once the policy points at the new one.
Sensitive labels (``password``; ``auth_token``, ``service_key`` of other
types) read back redacted, so they are compared through the ``switch-secret``
fingerprint label instead.
"""

from __future__ import annotations

from urllib.parse import quote

from .. import marks
from ..engine import Context, Kind

TYPES = {"basic": "webhook_basicauth", "token": "webhook_tokenauth", "pubsub": "pubsub"}
# Channel labels Google reads back redacted (Terraform's sensitive_labels).
SENSITIVE_LABELS = frozenset({"password", "auth_token", "service_key"})


def body(settings, target) -> dict:
    kind = target.channel
    if kind == "basic":
        labels = {"url": target.function_url, "username": settings.basic_user, "password": settings.basic_password}
    elif kind == "token":
        # webhook_tokenauth has no token field and no headers (monitoring.md §5): the secret rides in the URL.
        labels = {"url": f"{target.function_url}?auth_token={quote(settings.token, safe='')}"}
    else:
        labels = {"topic": target.topic}
    secret = marks.fingerprint(target.project, target.service, {"type": TYPES[kind], "labels": labels})
    if target.sites:
        description = (f"Alerts for switch ({target.service}), for the sites {', '.join(target.sites)}: an opening "
                       f"notification fails that site over to its Cloud Run replica, a closing one fails it back.")
    else:
        description = (f"Alerts for switch: an opening notification fails {target.host} over to the Cloud Run "
                       f"replica {target.service}, a closing one fails it back.")
    return {
        "type": TYPES[kind],
        "displayName": f"switch {target.service}",
        "description": description,
        "enabled": True,
        "labels": labels,
        "userLabels": marks.labels(target.service, **{marks.SECRET_LABEL: secret}),
    }


def _key(body: dict) -> dict:
    return {
        "displayName": body.get("displayName", ""),
        "description": body.get("description", ""),
        "enabled": body.get("enabled", True) is not False,
        "labels": {k: v for k, v in (body.get("labels") or {}).items() if k not in SENSITIVE_LABELS},
        "userLabels": marks.our_labels(body.get("userLabels")),
    }


class NotificationChannel(Kind):
    label = "notification channel"

    def _collection(self, ctx: Context):
        return ctx.api.monitoring.notificationChannels()

    def find(self, ctx):
        return ctx.api.list_all(self._collection(ctx), "notificationChannels", "monitoring",
                                "list notification channels", name=ctx.api.parent)

    def ours(self, ctx, item):
        return marks.ours(item, ctx.settings.service)

    def desired(self, ctx):
        return body(ctx.settings, ctx.target)

    def fixed(self, body):
        return (body.get("type"),)

    def replaced_because(self, found, desired):
        return f"replaced: {found.get('type')} → {desired['type']}"

    def adopt(self, ctx, desired, found):
        # Labels others put on our channel stay.
        desired["userLabels"] = {**(found.get("userLabels") or {}), **desired["userLabels"]}
        return desired

    def changes(self, ctx, desired, found):
        want, have = _key(desired), _key(found)
        changed = [name for name in want if want[name] != have[name]]
        if (found.get("userLabels") or {}).get(marks.SECRET_LABEL) != desired["userLabels"][marks.SECRET_LABEL] \
                and "labels" not in changed:
            changed.append("labels")  # the secret changed: send the labels again
        return changed

    def detail(self, action, body, changed):
        return f"{body.get('type')}; {', '.join(changed)}" if changed else body.get("type", "")

    def create(self, ctx, body):
        return ctx.api.call(self._collection(ctx).create(name=ctx.api.parent, body=body), "monitoring",
                            "create notification channel")

    def update(self, ctx, found, body, mask):
        ctx.api.call(self._collection(ctx).patch(name=found["name"], updateMask=mask, body=body), "monitoring",
                     "update notification channel")

    def delete(self, ctx, item):
        _delete_monitoring(ctx, self._collection(ctx), item, self.label)

    def describe(self, ctx, item):
        from ..engine import redact

        labels = item.get("labels") or {}
        where = labels.get("url") or labels.get("topic") or ""
        return f"{item.get('type', '?')} {redact(where)}".strip()


def _delete_monitoring(ctx: Context, collection, item: dict, label: str) -> None:
    """Delete a channel or check; Google refuses while a policy (someone else's, by now) uses it."""
    from ...errors import UpstreamError

    try:
        ctx.api.call(collection.delete(name=item["name"]), "monitoring", f"delete {label}")
    except UpstreamError as exc:
        if exc.status_code == 400:
            exc.message += " (is it still used by an alert policy that is not switch's? remove it there)"
        raise
