"""Redirect rule: a site's Cloudflare rule, as teardown sees it.

The function creates the rule on the first failover and afterwards only
switches it on and off (switch/traffic/cloudflare.py); teardown deletes it,
found by its ref (``switch_<service>_<hash of the host>``), and only while it
is off: a rule that is on sends visitors to a replica and is kept.
"""

from __future__ import annotations

from ..engine import Kind


class RedirectRule(Kind):
    label = "redirect rule"
    named = True
    show_body = False

    def router(self, ctx, service: str, host: str, zone: str):
        from ...traffic.cloudflare import CloudflareRouter

        s = ctx.settings
        token = s.cloudflare_token or next((x.cloudflare_token for x in ctx.memo.get("sites", ())
                                            if x.cloudflare_token), None)
        if not token:
            return None
        return CloudflareRouter(token=token, zone_id=zone, host=host, service=service,
                                endpoint=s.cloudflare_endpoint, timeout=s.http_timeout_seconds,
                                retries=s.api_retries, retry_base=s.retry_base_seconds)

    def rules_of(self, ctx, service: str, host: str, zones) -> list[dict]:
        found = []
        for zone in sorted(zones):
            router = self.router(ctx, service, host, zone) if service and host else None
            rule = router.existing_rule() if router is not None else None
            if rule is not None:
                found.append({"name": rule.get("ref", ""), "host": host, "rule": rule, "router": router})
        return found

    def find(self, ctx):
        s = ctx.settings
        if not (s.cloudflare_token and s.cloudflare_zone_id and s.cloudflare_host):
            return []
        return self.rules_of(ctx, s.service, s.cloudflare_host, {s.cloudflare_zone_id})

    def ours(self, ctx, item):
        return True  # found by this deployment's own ref

    def display(self, ctx, body):
        return body.get("host") or ctx.settings.cloudflare_host or ""

    def desired(self, ctx):
        return None  # made by the first failover, never by setup

    def in_use(self, ctx, item) -> str | None:
        if item["rule"].get("enabled", True):
            return "it is on: visitors are sent to the replica; fail back first, then run teardown again"
        return None

    def delete(self, ctx, item):
        item["router"].remove()
