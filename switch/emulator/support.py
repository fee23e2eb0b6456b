"""The small answers gcloud asks for around a function deploy, besides Cloud Functions itself.

- Service Usage v1 ``services.get`` (``GET v1/projects/P/services/S``): gcloud
  checks that run, cloudbuild and artifactregistry are enabled before a
  deploy. Every service is ENABLED here.
- Cloud Build v1 ``projects.locations.getDefaultServiceAccount``
  (``GET v1/projects/P/locations/L/defaultServiceAccount``): gcloud looks up
  the build account to warn when it lacks a builder role. The answer is the
  Compute Engine default account, as in projects made since 2024.

- Cloud Functions v1 (1st gen) ``projects.locations.list`` and
  ``functions.list``: ``gcloud functions list`` asks the first for regions
  (a fixed list here) and lists 1st gen functions beside 2nd gen ones with
  the second (none here: the emulator has only 2nd gen functions).

switch itself calls none of them. Inferred, not confirmed: the ``config.title``
of a service (only ``name`` and ``state`` are read by gcloud).
"""

from __future__ import annotations

import re

from .google import GoogleApi, invalid, json_response
from .routing import route

SERVICE_NAME = re.compile(r"^[a-z0-9.-]+\.googleapis\.com$")


class ServiceUsageApi(GoogleApi):
    prefix = "v1/"

    def __init__(self, project_number: str):
        self.project_number = project_number
        self.routes = [route("GET", "v1/projects/{project}/services/{service}", self.get)]

    def get(self, request, project, service):
        if not SERVICE_NAME.match(service):
            raise invalid(f"Invalid service name '{service}': use a DNS name such as run.googleapis.com.")
        return json_response({
            "name": f"projects/{self.project_number}/services/{service}",
            "config": {"name": service, "title": service.split(".")[0]},
            "state": "ENABLED",
            "parent": f"projects/{self.project_number}",
        })


class CloudBuildApi(GoogleApi):
    prefix = "v1/"

    def __init__(self, project_number: str):
        self.project_number = project_number
        self.routes = [route("GET", "v1/projects/{project}/locations/{location}/defaultServiceAccount",
                             self.default_service_account)]

    def default_service_account(self, request, project, location):
        email = f"{self.project_number}-compute@developer.gserviceaccount.com"
        return json_response({
            "name": f"projects/{project}/locations/{location}/defaultServiceAccount",
            "serviceAccountEmail": f"projects/{project}/serviceAccounts/{email}",
        })


REGIONS = ("asia-east1", "asia-northeast1", "australia-southeast1", "europe-west1", "europe-west2", "europe-west3",
           "europe-west4", "northamerica-northeast1", "southamerica-east1", "us-central1", "us-east1", "us-east4",
           "us-west1")


class FunctionsV1Api(GoogleApi):
    prefix = "v1/"

    def __init__(self):
        self.routes = [
            route("GET", "v1/projects/{project}/locations", self.list),
            route("GET", "v1/projects/{project}/locations/{location}/functions", self.functions),
        ]

    def functions(self, request, project, location):
        return json_response({})  # proto3 JSON: an empty list is no field at all

    def list(self, request, project):
        return json_response({"locations": [
            {"name": f"projects/{project}/locations/{r}", "locationId": r, "displayName": r} for r in REGIONS]})
