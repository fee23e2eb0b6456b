"""Knative objects as Cloud Run v1 accepts them: validation, defaults, selectors.

Everything here is pure: a body goes in, a 400 (GoogleError) or a normalized
copy comes out. The Run API module decides what to store.
"""

from __future__ import annotations

import copy
import re

from .google import invalid, opaque_token, read_token

SERVICE_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
MAX_LABELS = 64

# Google owns these prefixes. A v1 client that reads a Service and PUTs it back
# (gcloud does exactly that) sends the server's own keys along, so those are
# accepted and overwritten; any other key under a reserved prefix is refused.
RESERVED_PREFIXES = ("cloud.googleapis.com/", "serving.knative.dev/", "run.googleapis.com/", "autoscaling.knative.dev/")
SERVER_LABELS = {"cloud.googleapis.com/location"}
SERVER_TEMPLATE_LABELS = {"run.googleapis.com/startupProbeType"}
SERVER_ANNOTATIONS = {
    "serving.knative.dev/creator",
    "serving.knative.dev/lastModifier",
    "run.googleapis.com/operation-id",
    "run.googleapis.com/ingress-status",
    "run.googleapis.com/urls",
}
SERVICE_ANNOTATIONS = {
    "run.googleapis.com/ingress",
    "run.googleapis.com/invoker-iam-disabled",
    "run.googleapis.com/launch-stage",
    "run.googleapis.com/description",
    "run.googleapis.com/binary-authorization",
    "run.googleapis.com/custom-audiences",
    "run.googleapis.com/default-url-disabled",
    "run.googleapis.com/client-name",
    "run.googleapis.com/client-version",
}
# Scaling and per-revision knobs belong on spec.template, not on the Service.
TEMPLATE_ANNOTATIONS = {
    "autoscaling.knative.dev/minScale",
    "autoscaling.knative.dev/maxScale",
    "run.googleapis.com/cpu-throttling",
    "run.googleapis.com/startup-cpu-boost",
    "run.googleapis.com/execution-environment",
    "run.googleapis.com/vpc-access-connector",
    "run.googleapis.com/vpc-access-egress",
    "run.googleapis.com/cloudsql-instances",
    "run.googleapis.com/sessionAffinity",
    "run.googleapis.com/client-name",
    "run.googleapis.com/client-version",
}
INGRESS = {"all", "internal", "internal-and-cloud-load-balancing"}
PORT_NAMES = {"http1", "h2c"}
RESERVED_ENV = {"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}
DEFAULT_PORT = 8080


def _object(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{where}: must be an object.")
    return value


def _list(value, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"{where}: must be a list.")
    return value


def _int(value, where: str, low: int, high: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(f"{where}: must be an integer from {low} to {high}, got {value!r}.")


def check_header(body: dict, api_version: str, kind: str) -> None:
    if body.get("apiVersion") != api_version:
        raise invalid(f"apiVersion: Unsupported API version '{body.get('apiVersion')}'. Expected '{api_version}'.")
    if body.get("kind") != kind:
        raise invalid(f"kind: Unsupported kind '{body.get('kind')}'. Expected '{kind}'.")


def check_namespace(metadata: dict, project: str, project_number: str) -> None:
    namespace = metadata.get("namespace")
    if not namespace:
        raise invalid("metadata.namespace: Required field. Set it to the project ID or number.")
    if namespace not in (project, project_number):
        raise invalid(
            f"metadata.namespace: Namespace '{namespace}' does not match the project '{project}' in the request path."
        )


def check_name(name) -> None:
    if not isinstance(name, str) or not SERVICE_NAME.match(name):
        raise invalid(
            f"metadata.name: Resource name '{name}' is invalid: it must use only lowercase letters, "
            "numbers and '-', begin with a letter, not end with '-', and be at most 63 characters."
        )


def check_labels(labels, where: str, server_keys: set[str]) -> None:
    labels = _object(labels, where)
    if len(labels) > MAX_LABELS:
        raise invalid(f"{where}: at most {MAX_LABELS} labels are allowed, got {len(labels)}.")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise invalid(f"{where}['{key}']: label values must be strings, got {value!r}.")
        if key in server_keys:
            continue
        if key.startswith(RESERVED_PREFIXES):
            raise invalid(f"{where}['{key}']: the label key uses a reserved prefix owned by Google.")
        if not LABEL_KEY.match(key):
            raise invalid(
                f"{where}['{key}']: label keys must be 1-63 characters of lowercase letters, digits, '_' "
                "or '-', starting with a lowercase letter."
            )
        if not LABEL_VALUE.match(value):
            raise invalid(
                f"{where}['{key}']: label value '{value}' must be at most 63 characters of lowercase letters, "
                "digits, '_' or '-'."
            )


def check_annotations(annotations, where: str, allowed: set[str]) -> None:
    annotations = _object(annotations, where)
    for key, value in annotations.items():
        if not isinstance(value, str):
            raise invalid(f"{where}['{key}']: annotation values must be strings, got {value!r}.")
        if key.startswith(RESERVED_PREFIXES) and key not in allowed:
            raise invalid(f"{where}['{key}']: annotation is not supported on this resource.")
    ingress = annotations.get("run.googleapis.com/ingress")
    if ingress is not None and ingress not in INGRESS:
        raise invalid(f"{where}['run.googleapis.com/ingress']: must be one of {sorted(INGRESS)}.")
    for scale in ("autoscaling.knative.dev/minScale", "autoscaling.knative.dev/maxScale"):
        value = annotations.get(scale)
        if value is not None and not value.isdigit():
            raise invalid(f"{where}['{scale}']: must be a non-negative integer string, got '{value}'.")


def check_container(container, where: str) -> None:
    container = _object(container, where)
    image = container.get("image")
    if not isinstance(image, str) or not image.strip():
        raise invalid(f"{where}.image: Required field. Set it to a container image URL.")
    ports = _list(container.get("ports"), f"{where}.ports")
    if len(ports) > 1:
        raise invalid(f"{where}.ports: at most one port may be specified, got {len(ports)}.")
    for port in ports:
        port = _object(port, f"{where}.ports[0]")
        if port.get("name") is not None and port["name"] not in PORT_NAMES:
            raise invalid(f"{where}.ports[0].name: must be 'http1' or 'h2c', got '{port['name']}'.")
        _int(port.get("containerPort"), f"{where}.ports[0].containerPort", 1, 65535)
    resources = _object(container.get("resources"), f"{where}.resources")
    for key, value in _object(resources.get("limits"), f"{where}.resources.limits").items():
        if not isinstance(value, str):
            raise invalid(f"{where}.resources.limits['{key}']: must be a string such as '1' or '512Mi', got {value!r}.")
    env = _list(container.get("env"), f"{where}.env")
    reserved = [e.get("name") for e in env if isinstance(e, dict) and e.get("name") in RESERVED_ENV]
    if reserved:
        raise invalid(
            f"{where}.env: The following reserved env names were provided: {', '.join(reserved)}. "
            "These values are automatically set by the system."
        )


def validate_service(body: dict, project: str, project_number: str) -> None:
    """400 INVALID_ARGUMENT for anything Cloud Run v1 would refuse in a Service."""
    check_header(body, "serving.knative.dev/v1", "Service")
    metadata = _object(body.get("metadata"), "metadata")
    check_name(metadata.get("name"))
    check_namespace(metadata, project, project_number)
    check_labels(metadata.get("labels"), "metadata.labels", SERVER_LABELS)
    check_annotations(metadata.get("annotations"), "metadata.annotations", SERVICE_ANNOTATIONS | SERVER_ANNOTATIONS)

    spec = _object(body.get("spec"), "spec")
    template = _object(spec.get("template"), "spec.template")
    template_meta = _object(template.get("metadata"), "spec.template.metadata")
    check_labels(template_meta.get("labels"), "spec.template.metadata.labels", SERVER_TEMPLATE_LABELS)
    check_annotations(template_meta.get("annotations"), "spec.template.metadata.annotations", TEMPLATE_ANNOTATIONS)
    revision = template_meta.get("name")
    if revision is not None and not (isinstance(revision, str) and revision.startswith(metadata["name"] + "-")):
        raise invalid(f"spec.template.metadata.name: must start with the service name followed by '-', got '{revision}'.")

    template_spec = _object(template.get("spec"), "spec.template.spec")
    containers = _list(template_spec.get("containers"), "spec.template.spec.containers")
    if len(containers) != 1:
        raise invalid(f"spec.template.spec.containers: exactly one container is required, got {len(containers)}.")
    check_container(containers[0], "spec.template.spec.containers[0]")
    _int(template_spec.get("containerConcurrency"), "spec.template.spec.containerConcurrency", 0, 1000)
    _int(template_spec.get("timeoutSeconds"), "spec.template.spec.timeoutSeconds", 1, 3600)

    traffic = _list(spec.get("traffic"), "spec.traffic")
    for i, target in enumerate(traffic):
        _int(_object(target, f"spec.traffic[{i}]").get("percent"), f"spec.traffic[{i}].percent", 0, 100)
    if traffic and sum(t.get("percent", 0) for t in traffic) != 100:
        raise invalid("spec.traffic: traffic percentages must add up to 100.")


def _millicores(cpu: str) -> str:
    """Cloud Run stores whole CPUs as millicores ("1" comes back as "1000m")."""
    try:
        return f"{round(float(cpu) * 1000)}m"
    except ValueError:
        return cpu


def normalized_spec(spec: dict, project_number: str) -> dict:
    """The spec as Cloud Run stores it: the client's fields plus server defaults.

    Comparing normalized specs tells a real change (new revision, generation+1)
    from a client that sent back what it read.
    """
    spec = copy.deepcopy(spec)
    template = spec["template"]
    template_meta = template["metadata"] = template.get("metadata") or {}
    template_meta["labels"] = {**(template_meta.get("labels") or {}), "run.googleapis.com/startupProbeType": "Default"}
    template_spec = template["spec"]
    # 0 means "the default", which is 80 for a service with at least 1 CPU.
    if not template_spec.get("containerConcurrency"):
        template_spec["containerConcurrency"] = 80
    template_spec.setdefault("timeoutSeconds", 300)
    template_spec.setdefault("serviceAccountName", f"{project_number}-compute@developer.gserviceaccount.com")
    container = template_spec["containers"][0]
    ports = container["ports"] = container.get("ports") or [{}]
    ports[0].setdefault("containerPort", DEFAULT_PORT)
    ports[0].setdefault("name", "http1")
    resources = container["resources"] = container.get("resources") or {}
    limits = resources["limits"] = resources.get("limits") or {}
    limits["cpu"] = _millicores(limits.get("cpu", "1"))
    limits.setdefault("memory", "512Mi")
    container.setdefault(
        "startupProbe",
        {"failureThreshold": 1, "periodSeconds": 240, "tcpSocket": {"port": ports[0]["containerPort"]}, "timeoutSeconds": 240},
    )
    spec.setdefault("traffic", [{"percent": 100, "latestRevision": True}])
    return spec


def user_metadata(metadata: dict, server_labels: set[str], server_annotations: set[str]) -> tuple[dict, dict]:
    """Labels and annotations the client owns (server-owned keys dropped)."""
    labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k not in server_labels}
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if k not in server_annotations}
    return labels, annotations


_SELECTOR_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*))?\s*$")


def label_selector(text: str | None):
    """A predicate over label dicts for Kubernetes' equality-based selectors.

    Supports ``k=v``, ``k==v``, ``k!=v``, ``k`` and ``!k`` joined by commas;
    set-based selectors (``in``/``notin``) are refused rather than guessed.
    """
    terms = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        m = _SELECTOR_TERM.match(part)
        if not m or (m.group(1) and m.group(3)):
            raise invalid(f"labelSelector: unable to parse requirement '{part.strip()}'.")
        terms.append(m.groups())

    def matches(labels: dict) -> bool:
        for negated, key, op, value in terms:
            if op is None:
                if (key in labels) == bool(negated):
                    return False
            elif (labels.get(key) == value) != (op in ("=", "==")):
                return False
        return True

    return matches


API_VERSIONS = {"Service": "serving.knative.dev/v1", "DomainMapping": "domains.cloudrun.com/v1"}


def list_page(kind: str, self_link: str, objects: dict, query) -> dict:
    """A Knative List answer with ``labelSelector``, ``limit`` and ``continue``.

    Empty repeated fields are left out, as Google's JSON encoding does: a list
    with nothing in it has no ``items`` key at all.
    """
    matches = label_selector(query.get("labelSelector"))
    try:
        limit = int(query.get("limit") or 0)
    except ValueError:
        raise invalid(f"limit: invalid value '{query.get('limit')}'.") from None
    after = read_token(query["continue"]) if query.get("continue") else ""
    names = [n for n in sorted(objects) if n > after and matches(objects[n]["metadata"].get("labels", {}))]
    page = names[:limit] if limit > 0 else names
    answer = {"apiVersion": API_VERSIONS[kind], "kind": f"{kind}List", "metadata": {"selfLink": self_link}}
    if page:
        answer["items"] = [objects[n] for n in page]
    if len(page) < len(names):
        answer["metadata"]["continue"] = opaque_token(page[-1])
    return answer
