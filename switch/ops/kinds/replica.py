"""Replica: the Cloud Run service switch fails over to, as teardown sees it.

Setup never creates it (a failover does, or reconcile keeps it as the warm
standby); teardown removes it, and only when it is switch's (the
``managed-by: switch`` label) and no visitor is on it: a replica visitors
were sent to is kept until a failback has sent them home.
"""

from __future__ import annotations

from ...cloudrun import MANAGED_LABEL, Replica
from ..engine import Kind


class ReplicaService(Kind):
    label = "replica"
    named = True
    show_body = False

    def _name(self, ctx) -> str:
        return f"projects/{ctx.settings.project}/locations/{ctx.settings.region}/services/{ctx.settings.service}"

    def find(self, ctx):
        found = ctx.api.get_or_none(ctx.api.run_services.get(name=self._name(ctx)), "run", "get the replica")
        return [found] if found is not None else []

    def ours(self, ctx, item):
        return ((item.get("metadata") or {}).get("labels") or {}).get(MANAGED_LABEL[0]) == MANAGED_LABEL[1]

    def name_of(self, item):
        return (item.get("metadata") or {}).get("name", "")

    def display(self, ctx, body):
        return self.name_of(body) or ctx.settings.service

    def missing_name(self, ctx):
        return self._name(ctx)

    def desired(self, ctx):
        return None  # made by a failover or by reconcile (the warm standby), never by setup

    def in_use(self, ctx, item) -> str | None:
        replica = Replica.from_service(item)
        if replica.serving:
            return ("visitors are on it; send them home first (python -m switch failback), "
                    "then run teardown again")
        return None

    def delete(self, ctx, item):
        name = f"projects/{ctx.settings.project}/locations/{ctx.settings.region}/services/{self.name_of(item)}"
        ctx.api.call(ctx.api.run_services.delete(name=name), "run", "delete the replica")
