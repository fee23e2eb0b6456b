"""Secret: SWITCH_TOKEN, SWITCH_BASIC_PASSWORD and SWITCH_CLOUDFLARE_TOKEN, kept in Secret Manager.

A function's environment variables are readable by anyone who can view the
function, so secrets reach it through ``secretEnvironmentVariables`` instead.
The secret is created when missing and gets a new version only when the value
changed: a fingerprint label (``switch-secret``) says which value the latest
version holds, so nothing has to read the secret back. The value is never
printed, not even in a dry run.
"""

from __future__ import annotations

import base64

from .. import marks
from ..engine import Kind

# Function variable -> what it is called in the secret's ID.
SECRETS = {"SWITCH_TOKEN": "token", "SWITCH_BASIC_PASSWORD": "basic-password",
           "SWITCH_CLOUDFLARE_TOKEN": "cloudflare-token"}


def secret_id(stage: str, variable: str) -> str:
    return f"switch-{stage}-{SECRETS[variable]}"


class Secret(Kind):
    label = "secret"
    named = True

    def __init__(self, variable: str = "SWITCH_TOKEN"):
        self.variable = variable

    def _value(self, ctx) -> str | None:
        return getattr(ctx.settings, self.variable[len("SWITCH_"):].lower())

    def _name(self, ctx) -> str:
        return f"projects/{ctx.target.project}/secrets/{secret_id(ctx.target.stage, self.variable)}"

    def desired(self, ctx):
        value = self._value(ctx)
        if value is None:
            return None
        secret = marks.fingerprint(ctx.target.project, ctx.target.stage, value)
        return {"name": self._name(ctx), "replication": {"automatic": {}},
                "labels": ctx.target.labels(**{marks.SECRET_LABEL: secret})}

    def display(self, ctx, body):
        return f"{self.variable} → {self._name(ctx).rsplit('/', 1)[-1]}"

    def find(self, ctx):
        found = ctx.api.get_or_none(ctx.api.secrets.get(name=self._name(ctx)), "secretmanager", "get secret")
        return [found] if found else []

    def ours(self, ctx, item):
        return (item.get("labels") or {}).get(marks.MANAGED_BY[0]) == marks.MANAGED_BY[1]

    def adopt(self, ctx, desired, found):
        desired["labels"] = {**(found.get("labels") or {}), **desired["labels"]}
        return desired

    def changes(self, ctx, desired, found):
        return ["labels"] if desired["labels"] != (found.get("labels") or {}) else []

    def detail(self, action, body, changed):
        return "a new version" if action == "updated" else ""

    def create(self, ctx, body):
        return ctx.api.call(ctx.api.secrets.create(
            parent=f"projects/{ctx.target.project}", secretId=body["name"].rsplit("/", 1)[-1],
            body={"replication": body["replication"], "labels": body["labels"]}), "secretmanager", "create secret")

    def after_create(self, ctx, created):
        self._add_version(ctx, created["name"])

    def update(self, ctx, found, body, mask):
        # The version first: should the label write fail, the next deploy sees an
        # old fingerprint and adds the (same) value again, which is harmless.
        self._add_version(ctx, found["name"])
        ctx.api.call(ctx.api.secrets.patch(name=found["name"], updateMask="labels", body={"labels": body["labels"]}),
                     "secretmanager", "update secret labels")

    def _add_version(self, ctx, name: str) -> None:
        # dataCrc32c is optional; the request itself is protected by TLS.
        payload = {"data": base64.b64encode(self._value(ctx).encode()).decode()}
        ctx.api.call(ctx.api.secrets.addVersion(parent=name, body={"payload": payload}), "secretmanager",
                     "add secret version")

    def delete(self, ctx, item):
        ctx.api.call(ctx.api.secrets.delete(name=item["name"]), "secretmanager", "delete secret")
