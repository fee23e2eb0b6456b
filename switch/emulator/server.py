"""The emulator: one WSGI app serving every emulated API on one loopback port.

Paths:
- ``v1/...`` Cloud Run Admin v1, Cloud Scheduler, Pub/Sub, Resource Manager,
  Secret Manager, IAM service accounts (and, for gcloud, Service Usage, Cloud
  Build's default account and Cloud Functions v1's listings: ``support.py``),
  ``v2/...`` Cloud Functions, ``v3/...``
  Cloud Monitoring, ``client/v4/...`` Cloudflare: the API calls, recorded,
  subject to faults and latency;
- ``_upload/{bucket}/{object}`` the signed URL a function's source is PUT to;
- ``_run/{region}/{service}/...`` a replica as a visitor sees it;
- ``_fn/{region}/{function}/...`` a 2nd gen function's ``url``;
- ``_edge/{host}/{path}`` what a visitor of the site gets from Cloudflare's edge;
- ``_emulator/...`` control for a separate process (never faulted).

Every handler runs under one lock, so the API modules need none of their own;
latency is slept outside it, so slow calls do not serialize the others.
Long-running operations (``operations.py``) are settled under that lock
before every API call, visit and snapshot, so their effects show wherever
one looks first.

Absolute-form request lines (``GET http://host/v1/...``) are served by path,
so the emulator also works as an HTTP proxy for a client that derives host
names from its endpoint (gcloud's regional Cloud Run endpoints).
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from dataclasses import dataclass

from werkzeug.wrappers import Request, Response

from . import edge
from .cloudflare import CloudflareApi
from .control import ControlMixin
from .domains import DomainMappingsApi
from .faults import Faults
from .functions import FunctionsApi
from .google import html_not_found
from .monitoring import MonitoringApi
from .operations import Operations
from .pubsub import PubSubApi
from .resourcemanager import ResourceManagerApi
from .routing import ApiError
from .run import RunApi
from .scheduler import SchedulerApi
from .secretmanager import SecretManagerApi
from .serviceaccounts import ServiceAccountsApi
from .serving import Background
from .support import CloudBuildApi, FunctionsV1Api, ServiceUsageApi
from .uploads import Uploads


@dataclass(frozen=True)
class Record:
    """One request as the emulator saw and answered it (status 0: dropped)."""

    kind: str  # "api", "replica", "edge", "upload" (a function's source) or "function" (a visit to its url)
    method: str
    path: str
    query: dict
    headers: dict
    json: object
    status: int
    time: float


class Emulator(ControlMixin):
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        ready_delay: float = 2.0,
        delete_delay: float = 1.0,
        failing_image: str = "fail",
        project_number: str = "123456789012",
        cloudflare_token: str | None = None,
        cert_delay: float = 1.0,
        deploy_delay: float = 1.0,
    ):
        self.host = host
        self.port = port
        self._lock = threading.RLock()
        self._server: Background | None = None
        self.run = RunApi(lambda: self.url, project_number, failing_image, ready_delay, delete_delay)
        self.domains = DomainMappingsApi(self.run, cert_delay)
        self.monitoring = MonitoringApi(project_number)
        self.cloudflare = CloudflareApi(cloudflare_token)
        self.scheduler = SchedulerApi()
        self.pubsub = PubSubApi(agent_exists=self.monitoring.has_agent)
        self.serviceaccounts = ServiceAccountsApi(project_number)
        self.resourcemanager = ResourceManagerApi(project_number, member_refusal=self.serviceaccounts.refusal)
        self.secretmanager = SecretManagerApi(project_number, member_refusal=self.serviceaccounts.refusal)
        self.operations = Operations(deploy_delay)
        self._uploads = Uploads(project_number)
        self.functions = FunctionsApi(lambda: self.url, project_number, self.operations, self._uploads, self.run,
                                      self.serviceaccounts, self.secretmanager, self.pubsub, self.resourcemanager)
        # Several APIs share "v1/": the server asks each in turn, so their templates must not overlap
        # (tests/test_emulator_deploy.py proves each path reaches its own API).
        self.apis = [self.run, self.domains, self.monitoring, self.cloudflare, self.scheduler, self.pubsub,
                     self.resourcemanager, self.secretmanager, self.serviceaccounts, self.functions,
                     ServiceUsageApi(project_number), CloudBuildApi(project_number), FunctionsV1Api()]
        self.faults = Faults()
        self.latency = 0.0
        self._records: list[Record] = []
        # host -> home origin URL the edge forwards to when no redirect matches
        self.origins: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is None:
            self._server = Background(self, self.host, self.port)
            self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}/"

    @property
    def cloudflare_url(self) -> str:
        return self.url + "client/v4/"

    # -- recording ---------------------------------------------------------

    @property
    def requests(self) -> list[Record]:
        with self._lock:
            return list(self._records)

    def calls(self, method: str | None = None, contains: str | None = None) -> list[Record]:
        """API calls only, optionally one method and a path substring."""
        method = method.upper() if method else None
        return [
            r
            for r in self.requests
            if r.kind == "api" and method in (None, r.method) and (contains is None or contains in r.path)
        ]

    def clear_requests(self) -> None:
        with self._lock:
            self._records.clear()

    # -- faults and timing ---------------------------------------------------

    def inject(self, status: int = 503, count: int | None = None, rate: float | None = None, kind: str = "status",
               method: str | None = None, contains: str | None = None, seed: int | None = None,
               retry_after: float = 1.0) -> None:
        """Make the next matching API calls fail; see ``faults.py`` for the kinds."""
        with self._lock:
            self.faults.add(status=status, count=count, rate=rate, kind=kind, method=method, contains=contains,
                            seed=seed, retry_after=retry_after)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def set_origin(self, host: str, url: str) -> None:
        """Let the edge forward visitors of ``host`` to ``url`` (the home site) when no rule redirects them."""
        with self._lock:
            self.origins[host] = url

    def set_latency(self, ms: float) -> None:
        self.latency = ms / 1000

    def set_ready_delay(self, seconds: float) -> None:
        with self._lock:
            self.run.ready_delay = seconds

    def set_delete_delay(self, seconds: float) -> None:
        with self._lock:
            self.run.delete_delay = seconds

    def set_cert_delay(self, seconds: float) -> None:
        with self._lock:
            self.domains.cert_delay = seconds

    def set_deploy_delay(self, seconds: float) -> None:
        """How long a long-running operation (a function's create, update, delete) takes from now on."""
        with self._lock:
            self.operations.delay = seconds

    # -- alerts ------------------------------------------------------------

    def open_alert(self, policy_display_name: str, project: str | None = None, host: str | None = None) -> str:
        """Open an incident (an uptime check failing); returns its name.

        ``project=None`` makes it visible under every project; list and get
        answers name it under the project the caller asked for.
        """
        with self._lock:
            return self.monitoring.open_alert(policy_display_name, project, host)

    def close_alert(self, policy_display_name: str) -> str | None:
        with self._lock:
            return self.monitoring.close_alert(policy_display_name)

    def create_topic(self, name: str) -> dict:
        """Create the Pub/Sub topic ``projects/P/topics/T`` (kept if it exists)."""
        with self._lock:
            return self.pubsub.add(name)

    def create_service_account(self, project: str, account_id: str, display_name: str = "") -> dict:
        """Create the IAM service account ``ACCOUNT_ID@PROJECT.iam.gserviceaccount.com`` (kept if it exists)."""
        with self._lock:
            return self.serviceaccounts.add(project, account_id, display_name)

    # -- snapshots for assertions ---------------------------------------------

    def services(self, project: str, region: str) -> dict:
        with self._lock:
            return self.run.snapshot(project, region)

    def annotate(self, project: str, region: str, name: str, annotations: dict) -> None:
        """Change a service's annotations as someone with the console would (None removes one).

        A write like any other: the service's resourceVersion moves on. Tests use
        it to say "this replica has had visitors for ten minutes".
        """
        with self._lock:
            stored = self.run.find(project, region, name)
            if stored is None:
                raise KeyError(f"no service {name!r} in {project}/{region}")
            current = stored.body["metadata"]["annotations"]
            for key, value in annotations.items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value
            stored.written_at = max(time.time(), stored.written_at + 1e-5)

    def iam_policy(self, project: str, region: str, name: str) -> dict:
        with self._lock:
            stored = self.run.find(project, region, name)
            if stored is None:
                raise KeyError(f"no service {name!r} in {project}/{region}")
            return self.run.policy_of(stored)

    def redirect_rules(self, zone_id: str) -> list[dict]:
        with self._lock:
            return self.cloudflare.snapshot(zone_id)

    def function(self, name: str) -> dict:
        """The Cloud Function ``projects/P/locations/L/functions/F`` as GET answers it now."""
        with self._lock:
            self.operations.settle()
            fn = self.functions.functions.get(name)
            if fn is None:
                raise KeyError(f"no function {name!r}")
            return self.functions.render(fn)

    def operation(self, name: str) -> dict:
        with self._lock:
            self.operations.settle()
            return self.operations.render(self.operations.stored[name])

    @property
    def uploads(self) -> dict[str, bytes]:
        """Every uploaded function source: ``"bucket/object"`` -> the zip's bytes."""
        with self._lock:
            return self._uploads.contents()

    def project_policy(self, project: str) -> dict:
        """The project's IAM policy as Resource Manager's getIamPolicy answers it."""
        with self._lock:
            return copy.deepcopy(self.resourcemanager.policy(project))

    def state(self) -> dict:
        """Everything the emulator holds, as ``GET /_emulator/state`` shows it."""
        with self._lock:
            self.operations.settle()
            now = time.time()
            return {
                "services": {f"{p}/{r}": self.run.snapshot(p, r) for p, r in self.run.stored},
                "iam": {
                    f"projects/{p}/locations/{r}/services/{n}": self.run.policy_of(s)
                    for (p, r), services in self.run.stored.items()
                    for n, s in services.items()
                },
                "domainmappings": {
                    f"{p}/{r}": {n: self.domains.render(p, r, m, now) for n, m in mappings.items()}
                    for (p, r), mappings in self.domains.stored.items()
                },
                "alerts": self.monitoring.snapshot(),
                "notificationChannels": self.monitoring.snapshot_of("notificationChannels"),
                "uptimeCheckConfigs": self.monitoring.snapshot_of("uptimeCheckConfigs"),
                "alertPolicies": self.monitoring.snapshot_of("alertPolicies"),
                "jobs": self.scheduler.snapshot(),
                "topics": self.pubsub.snapshot(),
                "functions": self.functions.snapshot(),
                "operations": {n: self.operations.render(op, now) for n, op in self.operations.stored.items()},
                "uploads": self._uploads.snapshot(),
                "secrets": self.secretmanager.snapshot(),
                "serviceAccounts": self.serviceaccounts.snapshot(),
                "projectIam": self.resourcemanager.snapshot(),
                "rulesets": copy.deepcopy(self.cloudflare.rulesets),
                "faults": [f.describe() for f in self.faults.active],
                "config": self._config(),
            }

    def _config(self) -> dict:
        return {
            "ready_delay": self.run.ready_delay,
            "delete_delay": self.run.delete_delay,
            "cert_delay": self.domains.cert_delay,
            "deploy_delay": self.operations.delay,
            "latency_ms": self.latency * 1000,
        }

    # -- WSGI ------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        path = request.path.lstrip("/")
        if path.startswith("_emulator/"):
            response = self._control(request, path[len("_emulator/"):])
        elif path.startswith("_run/"):
            response = self._visit("replica", request, self._replica, path)
        elif path.startswith("_edge/"):
            response = self._visit("edge", request, self._edge, path)
        elif path.startswith("_upload/"):
            response = self._visit("upload", request, self._uploads.put, path)
        elif path.startswith("_fn/"):
            response = self._visit("function", request, self._function, path)
        else:
            response = self._api(request, path, environ)
        return response(environ, start_response)

    def _record(self, kind: str, request: Request, status: int, arrived: float) -> None:
        raw = request.get_data(cache=True)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        query, headers = request.args.to_dict(), dict(request.headers)
        record = Record(kind, request.method, request.path, query, headers, body, status, arrived)
        with self._lock:
            self._records.append(record)

    def _api(self, request: Request, path: str, environ) -> Response:
        arrived = time.time()
        if self.latency:
            time.sleep(self.latency)
        owners = [api for api in self.apis if api.owns(path)]
        with self._lock:
            fault = self.faults.take(request.method, request.path)
        if fault and fault.kind == "reset":
            self._record("api", request, 0, arrived)
            self._drop(environ)
        if fault and fault.kind == "status":
            response = self._fault_response(owners, fault)
        else:
            response = self._dispatch(request, path, owners)
            if fault:  # "after": the call happened, the client hears an error
                response = self._fault_response(owners, fault)
        self._record("api", request, response.status_code, arrived)
        return response

    def _dispatch(self, request: Request, path: str, owners: list) -> Response:
        if not owners:
            return html_not_found(request.path)
        with self._lock:
            self.operations.settle()
            for api in owners:
                found = api.match(request.method, path)
                if found:
                    handler, params = found
                    try:
                        return handler(request, **params)
                    except ApiError as e:
                        return e.response()
            return owners[0].not_found(request)

    def _fault_response(self, owners: list, fault) -> Response:
        return (owners[0] if owners else self.run).fault(fault.status, fault.retry_after)

    @staticmethod
    def _drop(environ) -> None:
        """Close the connection without answering.

        werkzeug treats a ConnectionError from the app as the client having
        gone away and writes nothing, so the client sees the socket close
        with no response at all.
        """
        environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
        raise ConnectionAbortedError("injected fault: connection dropped")

    def _visit(self, kind: str, request: Request, answer, path: str) -> Response:
        arrived = time.time()
        with self._lock:
            response = answer(request, path)
        self._record(kind, request, response.status_code, arrived)
        return response

    def _function(self, request: Request, path: str) -> Response:
        parts = path.split("/", 3)  # _fn, region, function, rest
        if len(parts) < 3:
            return html_not_found(request.path)
        self.operations.settle()
        return self.functions.visit(parts[1], parts[2], parts[3] if len(parts) > 3 else "")

    def _replica(self, request: Request, path: str) -> Response:
        parts = path.split("/", 3)  # _run, region, name, rest
        if len(parts) < 3:
            return html_not_found(request.path)
        return self.run.replica(parts[1], parts[2], parts[3] if len(parts) > 3 else "")

    def _edge(self, request: Request, path: str) -> Response:
        parts = path.split("/", 2)  # _edge, host, rest
        if len(parts) < 2 or not parts[1]:
            return Response("usage: /_edge/{host}/{path}\n", status=400, content_type="text/plain")
        rulesets = list(self.cloudflare.rulesets.values())
        query = request.query_string.decode("latin-1")
        origin_url = self.origins.get(parts[1])
        origin = None if origin_url is None else (lambda host, p, q: edge.proxy(origin_url, p, q))
        return edge.visit(rulesets, parts[1], "/" + (parts[2] if len(parts) > 2 else ""), query, origin)
