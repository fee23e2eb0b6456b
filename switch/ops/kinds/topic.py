"""Pub/Sub topic: where a Cloud Monitoring Pub/Sub channel publishes, and what triggers ``switch_pubsub``.

Created when missing, labelled as switch's. A topic that already exists is
used as it is, whoever made it: switch only needs it to exist, and never
changes or deletes a topic (it may carry other subscriptions).
"""

from __future__ import annotations

from ..engine import Kind


class PubSubTopic(Kind):
    label = "pubsub topic"
    named = True

    def desired(self, ctx):
        return {"name": ctx.target.topic, "labels": ctx.target.labels()}

    def display(self, ctx, body):
        return ctx.target.topic.rsplit("/", 1)[-1]

    def find(self, ctx):
        found = ctx.api.get_or_none(ctx.api.topics.get(topic=ctx.target.topic), "pubsub", "get topic")
        return [found] if found else []

    def ours(self, ctx, item):
        return True  # used as it is, never changed: see the module's docstring

    def changes(self, ctx, desired, found):
        return []

    def detail(self, action, body, changed):
        if action == "unchanged" and (body.get("labels") or {}).get("managed-by") != "switch":
            return "not created by switch; used as it is"
        return ""

    def create(self, ctx, body):
        return ctx.api.call(ctx.api.topics.create(name=body["name"], body={"labels": body["labels"]}), "pubsub",
                            f"create topic {body['name']}")

    def update(self, ctx, found, body, mask):  # pragma: no cover - a topic is never changed
        raise AssertionError("switch never changes a topic")

    def delete(self, ctx, item):  # pragma: no cover - a topic is never deleted
        raise AssertionError("switch never deletes a topic")
