"""Pub/Sub API v1: topics (get, create) and their IAM policy.

A topic exists only when someone made it: ``PUT v1/projects/P/topics/T`` as
Google's ``topics.create`` does, or the control call
``Emulator.create_topic`` / ``POST /_emulator/topics`` for a test or the
drill. IAM follows the same read-modify-write rules as everywhere in Google:
a stale etag answers 409 ABORTED, and members are checked, including whether
Cloud Monitoring's notification service agent exists yet (it appears with the
project's first Pub/Sub channel, monitoring.md §8).

Not thread-safe by itself; the server calls it under one lock.
"""

from __future__ import annotations

import copy
import re
from typing import Callable

from . import iampolicy
from .google import GoogleApi, GoogleError, invalid, json_response, read_json
from .routing import route

TOPIC = "v1/projects/{project}/topics/{topic}"
TOPIC_ID = re.compile(r"^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
PATH = re.compile(r"^projects/([^/]+)/topics/([^/]+)$")
AGENT_DOMAIN = "@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
# Roles a topic's policy may grant: Pub/Sub's own, the basic roles, custom roles.
TOPIC_ROLE = re.compile(r"^(roles/pubsub\.[A-Za-z]+|roles/(owner|editor|viewer)|(projects|organizations)/[^/]+/roles/.+)$")


def topic_path(name: str) -> tuple[str, str]:
    """(project, topic id) of ``projects/P/topics/T``; ValueError when it is not one."""
    m = PATH.match(name or "")
    if not m or not TOPIC_ID.match(m.group(2)) or m.group(2).lower().startswith("goog"):
        raise ValueError(f"{name!r} is not a topic name: projects/PROJECT/topics/TOPIC, TOPIC 3-255 characters "
                         "starting with a letter and not with goog")
    return m.group(1), m.group(2)


class PubSubApi(GoogleApi):
    prefix = "v1/"

    def __init__(self, agent_exists: Callable[[str], bool] = lambda email: True):
        # name -> {"topic": what GET answers, "policy": the IAM policy or None}
        self.topics: dict[str, dict] = {}
        self.agent_exists = agent_exists
        self.routes = [
            route("GET", TOPIC, self.get),
            route("PUT", TOPIC, self.create),
            route("GET", TOPIC + ":getIamPolicy", self.get_iam_policy),
            route("POST", TOPIC + ":setIamPolicy", self.set_iam_policy),
        ]

    # -- control ---------------------------------------------------------------

    def add(self, name: str, labels: dict | None = None) -> dict:
        """Create a topic (control call); an existing one is kept as it is."""
        topic_path(name)
        if name not in self.topics:
            body = {"name": name, **({"labels": dict(labels)} if labels else {})}
            self.topics[name] = {"topic": body, "policy": None}
        return copy.deepcopy(self.topics[name]["topic"])

    def snapshot(self) -> dict:
        return {name: {**copy.deepcopy(t["topic"]), "iamPolicy": self._policy(t)} for name, t in self.topics.items()}

    # -- topics --------------------------------------------------------------------

    def _find(self, project: str, topic: str) -> dict:
        found = self.topics.get(f"projects/{project}/topics/{topic}")
        if found is None:
            raise GoogleError(404, f"Resource not found (resource={topic}).", "NOT_FOUND")  # Pub/Sub's words
        return found

    def get(self, request, project, topic):
        return json_response(copy.deepcopy(self._find(project, topic)["topic"]))

    def create(self, request, project, topic):
        name = f"projects/{project}/topics/{topic}"
        try:
            topic_path(name)
        except ValueError:
            raise invalid(f"Invalid resource name given (name={name}). Refer to "
                          "https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names for more information.") \
                from None
        if name in self.topics:
            raise GoogleError(409, f"Resource already exists in the project (resource={topic}).", "ALREADY_EXISTS")
        body = read_json(request)
        return json_response(self.add(name, body.get("labels")))

    # -- IAM -------------------------------------------------------------------------

    @staticmethod
    def _policy(stored: dict) -> dict:
        # A topic nobody granted anything on answers only the empty etag.
        return iampolicy.render(stored["policy"], versioned=False)

    def get_iam_policy(self, request, project, topic):
        stored = self._find(project, topic)
        iampolicy.check_requested_version(request.args, stored["policy"])
        return json_response(self._policy(stored))

    def set_iam_policy(self, request, project, topic):
        body = read_json(request)
        if not isinstance(body.get("policy"), dict):
            raise invalid("policy: Required field. The body must be {\"policy\": {...}}.")
        stored = self._find(project, topic)
        stored["policy"] = iampolicy.replace(stored["policy"], body, example_role="roles/pubsub.publisher",
                                             role_allowed=TOPIC_ROLE.match, member_allowed=self._agent_refusal,
                                             versioned=False)
        return json_response(self._policy(stored))

    def _agent_refusal(self, member: str) -> str | None:
        """Monitoring's notification agent exists only once the project has a Pub/Sub channel."""
        email = member.split(":", 1)[-1]
        if member.startswith("serviceAccount:") and email.endswith(AGENT_DOMAIN) and not self.agent_exists(email):
            return f"Service account {email} does not exist."
        return None
