"""All Google API traffic goes through ``requests``.

googleapiclient speaks httplib2, which is not thread-safe, has no timeout by
default and cannot be intercepted by the ``responses`` test library.
``RequestsHttp`` is an httplib2-compatible adapter over google-auth's
``AuthorizedSession``: connection reuse, an explicit timeout, one session per
thread (functions-framework serves requests on gunicorn threads), and one seam
that both unit tests (``responses``) and the emulator (a loopback root) use.

The adapter contract googleapiclient relies on (cloudrun.md §9): ``request()``
returns ``(response, bytes)``, the response a dict like ``httplib2.Response``
with an int ``.status``, lowercase
header keys, ``.reason`` set, redirects not followed; requests' timeouts and
connection errors become ``socket.timeout`` and the builtin
``ConnectionError``, which ``execute(num_retries=...)`` retries. A requests
transport is not official (googleapis/google-api-python-client#368), which is
why the contract is pinned down by tests.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import random
import socket
import sys
import threading
import time
import types
from typing import Callable

import requests

from . import logs
from .config import Settings, is_loopback_url
from .errors import ConfigError, UpstreamError

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
NO_CREDENTIALS = ("no Google credentials found; on Google Cloud give the function a service account, elsewhere run "
                  "`gcloud auth application-default login` or point GOOGLE_APPLICATION_CREDENTIALS at a key file")
# The function's own account's token, as Cloud Run hands it to every instance.
METADATA_TOKEN_URL = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"


class Response(dict):
    """What ``httplib2.Response`` is to googleapiclient: the headers (lowercase) with ``.status`` and ``.reason``.

    Our own, so the first request does not import httplib2 (and its pyparsing).
    """

    def __init__(self, info: dict, status: int, reason: str):
        super().__init__(info)
        self.status = status
        self.reason = reason


class RequestsHttp:
    """An ``httplib2.Http`` look-alike backed by a requests session per thread."""

    def __init__(self, session_factory: Callable[[], requests.Session], timeout: float):
        self._factory = session_factory
        self._local = threading.local()
        self.timeout = timeout

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._factory()
        return session

    def request(self, uri, method="GET", body=None, headers=None, redirections=5, connection_type=None):
        try:
            answer = self.session.request(method, uri, data=body, headers=headers,
                                          timeout=self.timeout, allow_redirects=False)
        except requests.exceptions.Timeout as exc:
            self._discard_session()
            raise socket.timeout(f"{method} {uri}: timed out after {self.timeout:g} s") from exc
        except requests.exceptions.ConnectionError as exc:
            self._discard_session()
            raise ConnectionError(f"{method} {uri}: {exc}") from exc
        info = {key.lower(): value for key, value in answer.headers.items()}
        info["status"] = str(answer.status_code)
        return Response(info, answer.status_code, answer.reason), answer.content

    def _discard_session(self) -> None:
        # A pooled connection that timed out or was reset may be half-used;
        # start the next attempt on a fresh one.
        session = getattr(self._local, "session", None)
        if session is not None:
            self._local.session = None
            session.close()

    def close(self) -> None:
        self._discard_session()


class MetadataCredentials:
    """The function's own service account on Google Cloud: a token from the metadata server, kept until near expiry.

    One plain GET, instead of ``google.auth.default()``, whose Compute Engine
    credentials import google.auth.iam, cryptography and asyncio on the first
    request (a few hundred milliseconds on a fraction of a vCPU). Used only on
    Cloud Run (``K_SERVICE`` set) without GOOGLE_APPLICATION_CREDENTIALS;
    everywhere else google-auth's Application Default Credentials decide.
    """

    EARLY = 60.0  # renew this long before Google says the token expires

    def __init__(self, timeout: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.timeout = timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._until = 0.0

    def authorization(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._until:
                answer = requests.get(METADATA_TOKEN_URL, headers={"Metadata-Flavor": "Google"},
                                      timeout=self.timeout)
                if answer.status_code != 200:
                    # Retried like a dropped connection: the metadata server answers again shortly.
                    raise requests.exceptions.ConnectionError(
                        f"the metadata server answered {answer.status_code} for the function's access token")
                token = answer.json()
                self._token = token["access_token"]
                self._until = self.clock() + max(float(token.get("expires_in", 0)) - self.EARLY, 0.0)
            return f"Bearer {self._token}"

    def forget(self) -> None:
        with self._lock:
            self._token = None


class TokenSession(requests.Session):
    """A requests session that sends the function's own token, fetched again once if Google answers 401."""

    def __init__(self, credentials: MetadataCredentials):
        super().__init__()
        self.credentials = credentials

    def request(self, method, url, *args, headers=None, **kwargs):
        for attempt in range(2):
            sent = {**(headers or {}), "Authorization": self.credentials.authorization()}
            answer = super().request(method, url, *args, headers=sent, **kwargs)
            if answer.status_code != 401 or attempt:
                return answer
            self.credentials.forget()
        return answer  # pragma: no cover


def on_google_cloud(environ=None) -> bool:
    """Running as a Cloud Run service or function (K_SERVICE) with no key file chosen instead."""
    env = os.environ if environ is None else environ
    return bool(env.get("K_SERVICE")) and not env.get("GOOGLE_APPLICATION_CREDENTIALS")


def credentials_for(endpoint: str):
    """Anonymous credentials for a local emulator; on Cloud Run the metadata server; else ADC."""
    if is_loopback_url(endpoint):
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    if on_google_cloud():
        return MetadataCredentials()
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError:
        raise ConfigError("GOOGLE_APPLICATION_CREDENTIALS", NO_CREDENTIALS) from None
    return credentials


def session_factory(endpoint: str) -> Callable[[], requests.Session]:
    """Sessions that carry the right credentials for ``endpoint``."""
    from google.auth.credentials import AnonymousCredentials

    credentials = credentials_for(endpoint)
    if isinstance(credentials, AnonymousCredentials):
        return requests.Session
    if isinstance(credentials, MetadataCredentials):
        return lambda: TokenSession(credentials)

    def make() -> requests.Session:
        from google.auth.transport.requests import AuthorizedSession

        return AuthorizedSession(credentials)

    return make


# Imported by googleapiclient at its top, but never used on switch's path:
# httplib2 and google_auth_httplib2 (switch's own transport is requests;
# httplib2 pulls in pyparsing) and google.oauth2.service_account (for key
# files googleapiclient would authorize itself; it pulls in cryptography and
# asyncio), and google-auth's regional access boundary helpers (asyncio; only
# service-account and Compute Engine credentials use them, and switch's own
# token comes from the metadata server). Until
# something uses them, a stand-in answers ``import``; the first attribute
# anyone reads loads the real module. (The standard library's LazyLoader does
# not serve: an ``import`` statement of a lazy module reads ``__spec__``, and
# that loads it, python/cpython#127036.)
DEFERRED = ("httplib2", "google_auth_httplib2", "google.oauth2.service_account",
            "google.auth._regional_access_boundary_utils")
_deferred_lock = threading.RLock()


class _Deferred(types.ModuleType):
    """A module that is imported for real the first time one of its attributes is read."""

    def __init__(self, name: str, spec):
        super().__init__(name)
        self.__spec__ = spec
        self.__loader__ = spec.loader
        self.__file__ = spec.origin

    def __getattr__(self, attr: str):  # only for attributes the stand-in does not have
        name = self.__name__
        with _deferred_lock:
            if sys.modules.get(name) is self:
                del sys.modules[name]
                # What importers set on the stand-in (httplib2.RETRIES = 1) goes to the real module.
                mine = {k: v for k, v in vars(self).items() if not k.startswith("__")}
                real = importlib.import_module(name)
                for key, value in mine.items():
                    setattr(real, key, value)
        real = sys.modules.get(name) or importlib.import_module(name)
        vars(self).update({k: v for k, v in vars(real).items() if k not in ("__spec__", "__loader__")})
        return getattr(real, attr)


def _defer_unused_imports() -> None:
    for name in DEFERRED:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is not None:
            sys.modules[name] = _Deferred(name, spec)


def build_client(api: str, version: str, endpoint: str, timeout: float):
    """A discovery-built client on ``endpoint`` that sends everything through requests.

    Static discovery: the API description ships inside google-api-python-client,
    so building a client makes no network call.
    """
    _defer_unused_imports()
    from googleapiclient.discovery import build

    http = RequestsHttp(session_factory(endpoint), timeout)
    return build(api, version, http=http, client_options={"api_endpoint": endpoint},
                 static_discovery=True, cache_discovery=False)


_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def client(api: str, version: str, endpoint: str, timeout: float):
    """A process-wide client per (api, version, endpoint, timeout).

    Parsing the discovery document costs tens of milliseconds; a warm function
    instance builds each client once.
    """
    key = (api, version, endpoint, timeout)
    found = _clients.get(key)
    if found is None:
        with _clients_lock:
            found = _clients.get(key)
            if found is None:
                found = _clients[key] = build_client(api, version, endpoint, timeout)
    return found


def run_client(settings: Settings):
    return client("run", "v1", settings.run_endpoint, settings.http_timeout_seconds)


def monitoring_client(settings: Settings):
    return client("monitoring", "v3", settings.monitoring_endpoint, settings.http_timeout_seconds)


RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
RATE_LIMIT_REASONS = (b"rateLimitExceeded", b"userRateLimitExceeded")
RETRY_AFTER_CAP = 10.0


def google_error(exc) -> tuple[int, str, str]:
    """(HTTP status, canonical status, message) of a googleapiclient HttpError."""
    code = int(getattr(exc, "status_code", None) or exc.resp.status)
    try:
        error = json.loads(exc.content)["error"]
        return code, error.get("status", ""), error.get("message", "") or str(exc.reason)
    except (ValueError, KeyError, TypeError):
        # An HTML 404 from Google's front end: wrong host or path.
        return code, "", f"HTTP {code} {exc.resp.reason} from {exc.uri}"


def backoff(attempt: int, base: float, cap: float = 8.0) -> float:
    """Exponential backoff with jitter: about base, 2*base, 4*base ... never more than cap."""
    return min(cap, base * 2 ** attempt) * random.uniform(0.5, 1.0)


def execute(request, *, label: str, api: str, what: str, retries: int, base: float = 0.5,
            sleep: Callable[[float], None] = time.sleep, hint: str = ""):
    """Run one Google API call, retrying what may succeed next time; failures become UpstreamError.

    Our own loop rather than ``execute(num_retries=...)``: googleapiclient sleeps
    up to 2**n seconds (1, 2, 4, 8 ...) and ignores Retry-After; on the day of
    an outage the first retry should come within a second.
    Retried: 429, 5xx, 403 rateLimitExceeded, timeouts and dropped connections.
    A retried POST may have succeeded the first time: callers of create handle 409.
    """
    from google.auth import exceptions as auth_errors
    from googleapiclient.errors import HttpError

    for attempt in range(retries + 1):
        delay = None
        try:
            return request.execute(num_retries=0)
        except HttpError as exc:
            code, status, message = google_error(exc)
            retryable = code in RETRYABLE_STATUS or (code == 403 and any(r in (exc.content or b"")
                                                                        for r in RATE_LIMIT_REASONS))
            if not retryable or attempt == retries:
                if code == 403 and hint:
                    message = f"{message} ({hint})"
                raise UpstreamError(f"{label} {what}: {message}", api=api, status_code=code,
                                    retryable=retryable, google_status=status) from exc
            try:
                delay = min(float(exc.resp.get("retry-after", "")), RETRY_AFTER_CAP)
            except (TypeError, ValueError):
                delay = None
            why = f"HTTP {code}"
        except (socket.timeout, ConnectionError, OSError) as exc:
            if attempt == retries:
                raise UpstreamError(f"{label} {what}: {exc}", api=api, retryable=True) from exc
            why = type(exc).__name__
        except auth_errors.DefaultCredentialsError as exc:
            raise ConfigError("GOOGLE_APPLICATION_CREDENTIALS", NO_CREDENTIALS) from exc
        except auth_errors.GoogleAuthError as exc:
            raise UpstreamError(f"{label} {what}: Google credentials failed: {exc}", api=api,
                                retryable=True) from exc
        delay = delay if delay is not None else backoff(attempt, base)
        logs.warning(f"{label} {what}: {why}; retry {attempt + 1} of {retries} in {delay:.2f} s", api=api)
        sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
