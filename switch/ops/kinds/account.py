"""Service account: the functions' own identity, so they never run as the project's default account.

The Compute Engine default account, which a function uses when none is given,
holds Editor in many projects. switch's account gets only the roles the
function uses (``project_role``). IAM service accounts have no labels: ours is
the exact account ID of the stage *and* a description that starts with
``managed-by: switch``; an account of that ID without it is refused.
"""

from __future__ import annotations

from .. import marks
from ..engine import Kind


class ServiceAccount(Kind):
    label = "service account"
    named = True

    def desired(self, ctx):
        t = ctx.target
        return {"email": t.account_email, "accountId": t.account_id, "serviceAccount": {
            "displayName": f"switch ({t.stage})",
            "description": f"{marks.MARKER}; runs the switch functions of stage {t.stage}"}}

    def display(self, ctx, body):
        return ctx.target.account_id

    def name_of(self, item):
        return item.get("email", "")

    def find(self, ctx):
        name = f"projects/{ctx.target.project}/serviceAccounts/{ctx.target.account_email}"
        found = ctx.api.get_or_none(ctx.api.service_accounts.get(name=name), "iam", "get service account")
        return [found] if found else []

    def ours(self, ctx, item):
        return str(item.get("description", "")).startswith(marks.MARKER)

    def refusal(self, item):
        return (f"a service account {item.get('email')} exists but was not created by switch (its description "
                f"does not start with {marks.MARKER!r}); it is left untouched. Deploy with another --stage, or "
                f"remove that account yourself")

    def changes(self, ctx, desired, found):
        want = desired["serviceAccount"]
        return ["serviceAccount"] if any(want[k] != found.get(k, "") for k in want) else []

    def create(self, ctx, body):
        request = {"accountId": body["accountId"], "serviceAccount": body["serviceAccount"]}
        return ctx.api.call(ctx.api.service_accounts.create(name=f"projects/{ctx.target.project}", body=request),
                            "iam", "create service account")

    def update(self, ctx, found, body, mask):
        ctx.api.call(ctx.api.service_accounts.patch(name=found["name"], body={
            "serviceAccount": body["serviceAccount"], "updateMask": "displayName,description"}),
            "iam", "update service account")

    def delete(self, ctx, item):
        ctx.api.call(ctx.api.service_accounts.delete(name=item["name"]), "iam", "delete service account")
