"""An IAM grant: one member holding one role on one resource, added read-modify-write.

The base of every grant kind (the Pub/Sub publisher grant today). It only
ever adds: the policy is read with its etag, the member appended, and written
back, so every other binding stays as it was (``switch.iam``). A grant is
never taken back by teardown: the resource is not switch's, and the role may
serve others.

A subclass names the ``role``, the ``member`` and the ``resource`` it is
granted on, and how to ``read`` and ``write`` that resource's policy.
"""

from __future__ import annotations

from ...iam import add_member, grants
from ..engine import Context, Kind


class IamGrant(Kind):
    created = "granted"
    show_body = False
    role = ""

    def member(self, ctx: Context) -> str:
        raise NotImplementedError

    def resource(self, ctx: Context) -> str:
        raise NotImplementedError

    def read(self, ctx: Context) -> dict:
        raise NotImplementedError

    def write(self, ctx: Context, policy: dict) -> None:
        raise NotImplementedError

    def desired(self, ctx):
        return {"role": self.role, "member": self.member(ctx), "resource": self.resource(ctx)}

    def display(self, ctx, body):
        return f"{self.role} on {body.get('resource') or self.resource(ctx)}"

    def name_of(self, item):
        return item.get("member", "")

    def find(self, ctx):
        member = self.member(ctx)
        return [{"member": member}] if grants(self.read(ctx) or {}, self.role, member) else []

    def ours(self, ctx, item):
        return True

    def changes(self, ctx, desired, found):
        return []

    def detail(self, action, body, changed):
        return ""

    def create(self, ctx, body):
        add_member(lambda: self.read(ctx), lambda policy: self.write(ctx, policy), self.role, body["member"])
        return {"member": body["member"]}

    def update(self, ctx, found, body, mask):  # pragma: no cover - a grant has nothing to update
        raise AssertionError("a grant is added or already there")

    def delete(self, ctx, item):  # pragma: no cover - grants are never taken back
        raise AssertionError("switch never takes a grant back")
