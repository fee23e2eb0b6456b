"""Invoker grant: who may call a function, as Cloud Run's ``roles/run.invoker`` on the function's service.

A 2nd gen function is a Cloud Run service, and calling it is Cloud Run's
permission (``roles/cloudfunctions.invoker`` does not let unauthenticated
callers in). The HTTP function is public, ``allUsers``: Cloud Monitoring's
webhooks carry no Google identity, and switch checks its own token or Basic
credentials. The Pub/Sub function is not: only switch's account, which
Eventarc invokes it as, holds the role. Granted read-modify-write with the
etag on the Run v1 regional endpoint; every other binding stays.
"""

from __future__ import annotations

from .iam import IamGrant


def default_service(function_id: str) -> str:
    """The service name Cloud Functions gives a function: lower case, '_' as '-' (used before it exists)."""
    return function_id.lower().replace("_", "-")


class Invoker(IamGrant):
    label = "invoker"
    role = "roles/run.invoker"

    def __init__(self, entry: str = "switch"):
        self.entry = entry

    def member(self, ctx):
        return "allUsers" if self.entry == "switch" else f"serviceAccount:{ctx.target.account_email}"

    def resource(self, ctx):
        from .function import service_of

        function_id = ctx.target.function_name(self.entry).rsplit("/", 1)[-1]
        service = service_of(ctx.memo.get(f"function:{self.entry}"), default_service(function_id))
        return f"{ctx.target.location}/services/{service}"

    def find(self, ctx):
        if ctx.memo.get(f"function:{self.entry}") is None:
            return []  # a dry run of a first deploy: there is no service to read yet
        return super().find(ctx)

    def read(self, ctx):
        return ctx.api.call(ctx.api.run_services.getIamPolicy(resource=self.resource(ctx)), "run",
                            "get the function's IAM policy")

    def write(self, ctx, policy):
        ctx.api.call(ctx.api.run_services.setIamPolicy(resource=self.resource(ctx), body={"policy": policy}),
                     "run", "set the function's IAM policy")
