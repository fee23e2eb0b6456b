"""Publisher grant: Cloud Monitoring may publish to the Pub/Sub channel's topic.

Monitoring publishes Pub/Sub notifications as its notification service agent,
``service-NUMBER@gcp-sa-monitoring-notification.iam.gserviceaccount.com``
(monitoring.md §8); without ``roles/pubsub.publisher`` on the topic the
channel drops every alert. The agent appears with the project's first Pub/Sub
channel, so the grant comes after the channel.
"""

from __future__ import annotations

from ...errors import ConfigError, UpstreamError
from .iam import IamGrant

ROLE = "roles/pubsub.publisher"
AGENT = "service-{number}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"


class PublisherGrant(IamGrant):
    label = "publisher grant"
    role = ROLE

    @staticmethod
    def _number(ctx) -> str:
        """The project's number: given, the project ID itself, or asked of Resource Manager once a run."""
        if ctx.target.options.project_number is not None:
            return ctx.target.options.project_number
        if ctx.settings.project.isdigit():
            return ctx.settings.project
        if "project_number" not in ctx.memo:
            project = ctx.api.call(ctx.api.projects.get(projectId=ctx.settings.project), "cloudresourcemanager",
                                   f"get project {ctx.settings.project} (for its number)")
            number = str(project.get("projectNumber") or "")
            if not number.isdigit():
                raise ConfigError("--project-number", "Resource Manager did not give the project number; pass it")
            ctx.memo["project_number"] = number
        return ctx.memo["project_number"]

    def member(self, ctx):
        return f"serviceAccount:{AGENT.format(number=self._number(ctx))}"

    def resource(self, ctx):
        return ctx.target.topic

    def desired(self, ctx):
        if ctx.target.channel != "pubsub":
            return None
        body = super().desired(ctx)
        ctx.note(f"Cloud Monitoring publishes Pub/Sub notifications as its service agent "
                 f"{body['member'].split(':', 1)[1]}; without {ROLE} on the topic the channel drops every alert.")
        return body

    def read(self, ctx):
        return ctx.api.call(ctx.api.topics.getIamPolicy(resource=ctx.target.topic, options_requestedPolicyVersion=3),
                            "pubsub", "get topic IAM policy")

    def write(self, ctx, policy):
        ctx.api.call(ctx.api.topics.setIamPolicy(resource=ctx.target.topic, body={"policy": policy}),
                     "pubsub", "set topic IAM policy")

    def create(self, ctx, body):
        try:
            return super().create(ctx, body)
        except UpstreamError as exc:
            if exc.status_code == 400 and "does not exist" in exc.message:
                exc.message += (" (the notification service agent appears with the project's first Pub/Sub "
                                "channel; run setup again in a minute)")
            raise
