"""The discovery clients the operator side uses, built lazily, and one way to call them.

Every call goes through ``switch.transport``: the same requests transport,
retry policy and credentials choice as the function's own Run client, and
the same ``SWITCH_*_ENDPOINT`` overrides.
"""

from __future__ import annotations

from ..errors import UpstreamError

API_NAMES = {"monitoring": "Cloud Monitoring", "cloudscheduler": "Cloud Scheduler", "pubsub": "Pub/Sub",
             "cloudresourcemanager": "Resource Manager", "cloudfunctions": "Cloud Functions",
             "secretmanager": "Secret Manager", "iam": "IAM", "run": "Cloud Run"}
API_HINTS = {
    "monitoring": "the caller needs roles/monitoring.editor and the Monitoring API enabled",
    "cloudscheduler": "the caller needs roles/cloudscheduler.admin and the Cloud Scheduler API enabled",
    "pubsub": "the caller needs roles/pubsub.admin on the topic",
    "cloudresourcemanager": "the caller needs roles/resourcemanager.projectIamAdmin to grant the function's "
                            "account its roles (or pass --project-number where a number is all that is needed)",
    "cloudfunctions": "the caller needs roles/cloudfunctions.developer and the Cloud Functions, Cloud Build, "
                      "Artifact Registry, Cloud Run and Eventarc APIs enabled",
    "secretmanager": "the caller needs roles/secretmanager.admin and the Secret Manager API enabled",
    "iam": "the caller needs roles/iam.serviceAccountAdmin (or an existing account) and the IAM API enabled",
    "run": "the caller needs roles/run.admin to make the function public",
}


class Google:
    """The discovery clients of one project, and ``call`` with switch's retries."""

    def __init__(self, settings):
        self.settings = settings
        self.parent = f"projects/{settings.project}"

    def _client(self, api: str, version: str, endpoint: str):
        from .. import transport

        return transport.client(api, version, endpoint, self.settings.http_timeout_seconds)

    @property
    def monitoring(self):
        return self._client("monitoring", "v3", self.settings.monitoring_endpoint).projects()

    @property
    def jobs(self):
        return self._client("cloudscheduler", "v1", self.settings.scheduler_endpoint).projects().locations().jobs()

    @property
    def topics(self):
        return self._client("pubsub", "v1", self.settings.pubsub_endpoint).projects().topics()

    @property
    def projects(self):
        return self._client("cloudresourcemanager", "v1", self.settings.resourcemanager_endpoint).projects()

    @property
    def functions(self):
        return self._client("cloudfunctions", "v2", self.settings.functions_endpoint).projects().locations()

    @property
    def secrets(self):
        return self._client("secretmanager", "v1", self.settings.secretmanager_endpoint).projects().secrets()

    @property
    def service_accounts(self):
        return self._client("iam", "v1", self.settings.iam_endpoint).projects().serviceAccounts()

    @property
    def run_services(self):
        from ..transport import run_client

        return run_client(self.settings).projects().locations().services()

    def call(self, request, api: str, what: str):
        """One API call with switch's retries; every failure becomes a SwitchError."""
        from ..transport import execute

        return execute(request, label=API_NAMES[api], api=api, what=what, retries=self.settings.api_retries,
                       base=self.settings.retry_base_seconds, hint=API_HINTS[api])

    def get_or_none(self, request, api: str, what: str) -> dict | None:
        """A GET whose 404 means "there is none"."""
        try:
            return self.call(request, api, what)
        except UpstreamError as exc:
            if exc.status_code == 404:
                return None
            raise

    def list_all(self, collection, key: str, api: str, what: str, **params) -> list[dict]:
        """Every page of a list."""
        items: list[dict] = []
        token = None
        while True:
            page = self.call(collection.list(**params, **({"pageToken": token} if token else {})), api, what) or {}
            items.extend(page.get(key) or [])
            token = page.get("nextPageToken")
            if not token:
                return items

    def wait(self, operation: dict, what: str, *, timeout: float = 1800.0, progress=None,
             sleep=None, clock=None) -> dict:
        """Poll a Cloud Functions long-running operation until it is done; its ``response``.

        A deploy takes one to several minutes (a build, then a Cloud Run
        revision). ``progress(seconds)`` is called about every ten seconds so a
        person sees it move. An operation that ends in an error raises
        UpstreamError with Google's message.
        """
        import time

        sleep = sleep or time.sleep
        clock = clock or time.monotonic
        started = last_said = clock()
        delay = 0.25
        operations = self.functions.operations()
        while not operation.get("done"):
            if clock() - started > timeout:
                raise UpstreamError(f"Cloud Functions {what}: still running after {timeout:.0f} s "
                                    f"({operation.get('name')}); look at it in the console", api="cloudfunctions",
                                    retryable=True)
            sleep(delay)
            delay = min(delay * 2, 5.0)
            operation = self.call(operations.get(name=operation["name"]), "cloudfunctions", f"{what} (progress)")
            if progress is not None and clock() - last_said >= 10:
                last_said = clock()
                progress(clock() - started)
        error = operation.get("error")
        if error:
            raise UpstreamError(f"Cloud Functions {what} failed: {error.get('message') or error}",
                                api="cloudfunctions", status_code=None, google_status=error.get("code"))
        return operation.get("response") or {}
