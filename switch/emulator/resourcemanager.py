"""Cloud Resource Manager API v1: ``projects.get``, so a caller can learn the project's number.

Every well-formed project ID exists and is ACTIVE, with the emulator's one
project number; the number itself is also accepted as an ID.
"""

from __future__ import annotations

import re
import time

from .google import GoogleApi, GoogleError, json_response, rfc3339
from .routing import route

PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class ResourceManagerApi(GoogleApi):
    prefix = "v1/"

    def __init__(self, project_number: str):
        self.project_number = project_number
        self.created = rfc3339(time.time())
        self.routes = [route("GET", "v1/projects/{project}", self.get)]

    def get(self, request, project):
        if not (PROJECT_ID.match(project) or project == self.project_number):
            # Resource Manager does not say whether a project exists to a caller who may not see it.
            raise GoogleError(403, "The caller does not have permission", "PERMISSION_DENIED")
        return json_response({
            "projectNumber": self.project_number,
            "projectId": project,
            "lifecycleState": "ACTIVE",
            "name": project,
            "createTime": self.created,
        })
