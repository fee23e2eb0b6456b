"""A Cloud Functions v2 ``Function`` body as the API accepts it: field names, types, enums, limits, defaults.

Pure: a body goes in, a 400 (``GoogleError``) or a checked copy comes out.
Whether what it names exists (the runtime account, the topic, the uploaded
source, the secrets) is ``functions.py``'s business, since it needs the other
emulated APIs.

Field names are those of googleapiclient's bundled ``cloudfunctions.v2.json``;
an unknown one is refused the way Google's JSON parser refuses it. Limits:
timeout up to 3600 s for HTTP and 540 s for event-driven functions,
concurrency 1 to 1000 and only with at least one CPU, memory 128Mi to 32Gi
with Cloud Run's minimum CPU per memory.

Inferred, not confirmed against Google: the wording of most 400s (only the
"Invalid JSON payload" and "Invalid value at" shapes and "Runtime python39 is
decommissioned and no longer allowed" are Google's); the CPU Google derives
from memory when ``availableCpu`` is unset (``DEFAULT_CPU``); the runtime
list is a realistic subset, not Google's full one.
"""

from __future__ import annotations

import copy
import re

from .google import invalid
from .protojson import user_labels

# Output-only fields are accepted (a client may send back what it read) and ignored.
FUNCTION = {"name", "description", "buildConfig", "serviceConfig", "eventTrigger", "state", "updateTime", "labels",
            "stateMessages", "environment", "upgradeInfo", "url", "kmsKeyName", "satisfiesPzs", "satisfiesPzi",
            "createTime"}
BUILD = {"build", "runtime", "entryPoint", "source", "sourceProvenance", "workerPool", "environmentVariables",
         "dockerRegistry", "dockerRepository", "serviceAccount", "automaticUpdatePolicy", "onDeployUpdatePolicy",
         "sourceToken"}
SOURCE = {"storageSource", "repoSource", "gitUri"}
STORAGE = {"bucket", "object", "generation", "sourceUploadUrl"}
SERVICE = {"service", "timeoutSeconds", "availableMemory", "availableCpu", "environmentVariables",
           "maxInstanceCount", "minInstanceCount", "vpcConnector", "vpcConnectorEgressSettings", "ingressSettings",
           "uri", "serviceAccountEmail", "allTrafficOnLatestRevision", "secretEnvironmentVariables", "secretVolumes",
           "revision", "maxInstanceRequestConcurrency", "securityLevel", "binaryAuthorizationPolicy",
           "directVpcNetworkInterface", "directVpcEgress"}
TRIGGER = {"trigger", "triggerRegion", "eventType", "eventFilters", "pubsubTopic", "serviceAccountEmail",
           "retryPolicy", "channel", "service"}
SECRET_ENV = {"key", "projectId", "secret", "version"}
SECRET_VOLUME = {"mountPath", "projectId", "secret", "versions"}
EVENT_FILTER = {"attribute", "value", "operator"}
OUTPUT_ONLY = {"state", "updateTime", "createTime", "stateMessages", "upgradeInfo", "url", "satisfiesPzs",
               "satisfiesPzi"}

FUNCTION_ID = re.compile(r"^[A-Za-z](?:[-_A-Za-z0-9]{0,61}[A-Za-z0-9])?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOPIC = re.compile(r"^projects/([^/]+)/topics/([^/]+)$")
SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
ENV_NAME = re.compile(r"^[^=\s]+$")
RESERVED_ENV = {"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}
PUBSUB_EVENT = "google.cloud.pubsub.topic.v1.messagePublished"
EVENT_TYPE = re.compile(r"^google\.(cloud|firebase)\.[a-z0-9.]+\.v\d+\.[A-Za-z]+$")

RUNTIMES = {
    "python310": "Python 3.10", "python311": "Python 3.11", "python312": "Python 3.12", "python313": "Python 3.13",
    "python314": "Python 3.14", "nodejs20": "Node.js 20", "nodejs22": "Node.js 22", "go122": "Go 1.22",
    "go123": "Go 1.23", "java17": "Java 17", "java21": "Java 21", "ruby33": "Ruby 3.3", "php83": "PHP 8.3",
    "dotnet8": ".NET 8",
}
DECOMMISSIONED = {"python37", "python38", "python39", "nodejs10", "nodejs12", "nodejs14", "nodejs16", "go111",
                  "go113", "go116", "ruby26", "ruby27", "php74", "dotnet3"}

INGRESS = ("INGRESS_SETTINGS_UNSPECIFIED", "ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB")
VPC_EGRESS = ("VPC_CONNECTOR_EGRESS_SETTINGS_UNSPECIFIED", "PRIVATE_RANGES_ONLY", "ALL_TRAFFIC")
DIRECT_EGRESS = ("DIRECT_VPC_EGRESS_UNSPECIFIED", "VPC_EGRESS_PRIVATE_RANGES_ONLY", "VPC_EGRESS_ALL_TRAFFIC")
RETRY = ("RETRY_POLICY_UNSPECIFIED", "RETRY_POLICY_DO_NOT_RETRY", "RETRY_POLICY_RETRY")
ENVIRONMENTS = ("ENVIRONMENT_UNSPECIFIED", "GEN_1", "GEN_2")

_UNITS = {"": 1, "k": 10**3, "Ki": 2**10, "M": 10**6, "Mi": 2**20, "G": 10**9, "Gi": 2**30, "T": 10**12, "Ti": 2**40}
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)(k|Ki|M|Mi|G|Gi|T|Ti)?$")
# Cloud Run's minimum CPUs for memory above each size.
_MIN_CPU = ((24 * 2**30, 8.0), (16 * 2**30, 6.0), (8 * 2**30, 4.0), (4 * 2**30, 2.0))
# What a function shows when it sets only memory (inferred from functions read back).
DEFAULT_CPU = ((128 * 2**20, "0.0833"), (256 * 2**20, "0.1666"), (512 * 2**20, "0.3333"), (2**30, "0.5833"),
               (2 * 2**30, "1"), (8 * 2**30, "2"), (16 * 2**30, "4"), (32 * 2**30, "8"))


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _at(where: str, field: str | None = None) -> str:
    path = ".".join(_snake(p) for p in where.split("."))
    return f"{path}.{_snake(field)}" if field else path


def _object(value, where: str, allowed: set) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid value at '{_at(where)}': expected an object.")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise invalid(f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" at '{_at(where)}': "
                      "Cannot find field.")
    return value


def _text(obj: dict, field: str, where: str) -> str:
    value = obj.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"Invalid value at '{_at(where, field)}' (TYPE_STRING), {value!r}")
    return value


def _int(obj: dict, field: str, where: str, low: int, high: int, message: str | None = None) -> int | None:
    value = obj.get(field)
    if value is None:
        return None
    # proto3 JSON takes an int32 as a number or a string of digits.
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise invalid(f"Invalid value at '{_at(where, field)}' (TYPE_INT32), \"{value}\"")
    value = int(value)
    if not low <= value <= high:
        raise invalid(message or f"{_at(where, field)} must be between {low} and {high}; got {value}.")
    obj[field] = value
    return value


def _enum(obj: dict, field: str, where: str, allowed: tuple, type_name: str) -> str | None:
    value = obj.get(field)
    if value is not None and value not in allowed:
        raise invalid(f"Invalid value at '{_at(where, field)}' (type.googleapis.com/google.cloud.functions.v2."
                      f"{type_name}), \"{value}\"")
    return value


def _string_map(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict) or any(not isinstance(v, str) for v in value.values()):
        raise invalid(f"Invalid value at '{_at(where)}': expected a map of strings.")
    return value


def memory_bytes(text: str) -> int | None:
    m = _MEMORY.match(text or "")
    return int(float(m.group(1)) * _UNITS[m.group(2) or ""]) if m else None


def cpu_value(text: str) -> float | None:
    m = re.match(r"^(\d+(?:\.\d+)?)(m?)$", text or "")
    if not m:
        return None
    return float(m.group(1)) / (1000 if m.group(2) else 1)


def check_function_id(function_id: str) -> None:
    if not FUNCTION_ID.match(function_id or ""):
        raise invalid(f"Invalid function_id '{function_id}': function IDs contain only letters, digits, hyphens and "
                      "underscores, start with a letter, do not end with a hyphen or underscore, and are at most "
                      "63 characters long.")


def check_runtime(runtime: str) -> None:
    if runtime in DECOMMISSIONED:
        raise invalid(f"Runtime {runtime} is decommissioned and no longer allowed")  # Google's words
    if runtime not in RUNTIMES:
        raise invalid(f"Invalid runtime '{runtime}': it is not a supported runtime on Cloud Functions 2nd gen. "
                      "List the supported ones with GET v2/projects/P/locations/L/runtimes.")


def validate(body: dict, creating: bool) -> dict:
    """A checked deep copy of a Function body, output-only fields dropped."""
    body = copy.deepcopy(_object(body, "function", FUNCTION))
    for field in OUTPUT_ONLY:
        body.pop(field, None)
    environment = _enum(body, "environment", "function", ENVIRONMENTS, "Environment")
    if environment == "GEN_1":
        raise invalid("The emulator serves 2nd gen functions only: environment must be GEN_2.")
    body.pop("environment", None)
    _text(body, "description", "function")
    _text(body, "kmsKeyName", "function")
    if "labels" in body:
        body["labels"] = user_labels(body["labels"], "function.labels")
    build = _object(body.get("buildConfig"), "function.buildConfig", BUILD)
    if creating or build:
        _build(build, creating)
        body["buildConfig"] = build
    trigger = body.get("eventTrigger")
    if trigger is not None:
        body["eventTrigger"] = _trigger(_object(trigger, "function.eventTrigger", TRIGGER))
    service = _object(body.get("serviceConfig"), "function.serviceConfig", SERVICE)
    _service(service, event_driven=bool(body.get("eventTrigger")))
    body["serviceConfig"] = service
    return body


def _build(build: dict, creating: bool) -> None:
    where = "function.buildConfig"
    for field in ("build", "sourceProvenance", "dockerRegistry"):
        build.pop(field, None)
    runtime = _text(build, "runtime", where)
    if creating and not runtime:
        raise invalid("Runtime is required when creating a function: set build_config.runtime.")
    if runtime:
        check_runtime(runtime)
    # Unset, the entry point is the function's ID (the discovery document says so): a build then
    # looks for `def switch-http(` and fails, which is how a forgotten entryPoint shows.
    entry = _text(build, "entryPoint", where)
    if entry and not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", entry):
        raise invalid(f"Invalid entry point '{entry}': it must name a function in the source.")
    _string_map(build.get("environmentVariables"), where + ".environmentVariables")
    account = _text(build, "serviceAccount", where)
    if account and not re.match(r"^projects/[^/]+/serviceAccounts/[^/]+@[^/]+$", account):
        raise invalid(f"Invalid build service account '{account}': use projects/PROJECT/serviceAccounts/EMAIL.")
    source = _object(build.get("source"), where + ".source", SOURCE)
    if creating and not source:
        raise invalid("Source is required when creating a function: set build_config.source.storage_source.")
    if source:
        if set(source) - {"storageSource"}:
            raise invalid("The emulator deploys only from build_config.source.storage_source (an uploaded zip).")
        storage = _object(source.get("storageSource"), where + ".source.storageSource", STORAGE)
        if not _text(storage, "bucket", where + ".source.storageSource") or \
                not _text(storage, "object", where + ".source.storageSource"):
            raise invalid("build_config.source.storage_source needs bucket and object.")


def _trigger(trigger: dict) -> dict:
    where = "function.eventTrigger"
    trigger.pop("trigger", None)
    event_type = _text(trigger, "eventType", where)
    if not event_type:
        raise invalid("event_trigger.event_type is required.")
    if not EVENT_TYPE.match(event_type):
        raise invalid(f"Invalid event type '{event_type}': use a CloudEvents type such as {PUBSUB_EVENT}.")
    topic = _text(trigger, "pubsubTopic", where)
    if topic and not TOPIC.match(topic):
        raise invalid(f"Invalid pubsub_topic '{topic}': use projects/PROJECT/topics/TOPIC.")
    if event_type == PUBSUB_EVENT and not topic:
        raise invalid(f"event_trigger.pubsub_topic is required for {PUBSUB_EVENT} in the emulator.")
    _enum(trigger, "retryPolicy", where, RETRY, "EventTrigger.RetryPolicy")
    region = _text(trigger, "triggerRegion", where)
    if region and not re.match(r"^([a-z]+-[a-z]+\d+|global|us|eu|asia)$", region):
        raise invalid(f"Invalid trigger_region '{region}'.")
    email = _text(trigger, "serviceAccountEmail", where)
    if email and not EMAIL.match(email):
        raise invalid(f"Invalid event_trigger.service_account_email '{email}'.")
    filters = trigger.get("eventFilters") or []
    if not isinstance(filters, list):
        raise invalid(f"Invalid value at '{_at(where)}.event_filters': expected a list.")
    for i, item in enumerate(filters):
        item = _object(item, f"{where}.eventFilters[{i}]", EVENT_FILTER)
        if not item.get("attribute") or not isinstance(item.get("value"), str):
            raise invalid(f"event_trigger.event_filters[{i}] needs attribute and value.")
    return trigger


def _service(service: dict, event_driven: bool) -> None:
    where = "function.serviceConfig"
    for field in ("service", "uri", "revision"):
        service.pop(field, None)
    if event_driven:
        _int(service, "timeoutSeconds", where, 1, 540,
             "The timeout of an event-driven function must be between 1 and 540 seconds.")
    else:
        _int(service, "timeoutSeconds", where, 1, 3600,
             "The timeout of an HTTP function must be between 1 and 3600 seconds.")
    memory = _text(service, "availableMemory", where)
    size = memory_bytes(memory) if memory else 256 * 10**6
    if size is None:
        raise invalid(f"Invalid value specified for memory: '{memory}'. Use a number with a unit such as 256Mi or 1Gi "
                      "(units k, Ki, M, Mi, G, Gi).")
    if not 128 * 10**6 <= size <= 32 * 2**30:
        raise invalid(f"Invalid value specified for memory: '{memory}'. It must be between 128Mi and 32Gi.")
    cpu_text = _text(service, "availableCpu", where)
    cpu = cpu_value(cpu_text) if cpu_text else None
    if cpu_text and (cpu is None or not 0.08 <= cpu <= 8):
        raise invalid(f"Invalid value specified for cpu: '{cpu_text}'. It must be between 0.083 and 8.")
    effective = cpu if cpu is not None else float(default_cpu(size))
    needed = next((c for limit, c in _MIN_CPU if size > limit), 0.0)
    if effective < needed:
        raise invalid(f"Invalid value specified for cpu: memory {memory} needs at least {needed:g} CPU.")
    concurrency = _int(service, "maxInstanceRequestConcurrency", where, 1, 1000,
                       "max_instance_request_concurrency must be between 1 and 1000.") or 1
    if concurrency > 1 and effective < 1:
        raise invalid("Invalid value specified for container concurrency. Total cpu < 1 is not supported with "
                      "concurrency > 1.")
    low = _int(service, "minInstanceCount", where, 0, 1000) or 0
    high = _int(service, "maxInstanceCount", where, 0, 1000) or 0
    if high and low > high:
        raise invalid("min_instance_count must not be greater than max_instance_count.")
    _enum(service, "ingressSettings", where, INGRESS, "ServiceConfig.IngressSettings")
    _enum(service, "vpcConnectorEgressSettings", where, VPC_EGRESS, "ServiceConfig.VpcConnectorEgressSettings")
    _enum(service, "directVpcEgress", where, DIRECT_EGRESS, "ServiceConfig.DirectVpcEgress")
    if service.get("securityLevel") not in (None, "SECURITY_LEVEL_UNSPECIFIED"):
        raise invalid("security_level applies to 1st gen functions only; 2nd gen functions are HTTPS only.")
    email = _text(service, "serviceAccountEmail", where)
    if email and not EMAIL.match(email):
        raise invalid(f"Invalid service_config.service_account_email '{email}'.")
    env = _string_map(service.get("environmentVariables"), where + ".environmentVariables")
    for key in env:
        if not ENV_NAME.match(key) or key in RESERVED_ENV or key.startswith("X_GOOGLE_"):
            raise invalid(f"Invalid environment variable name '{key}': it is empty, has '=' or is reserved "
                          f"({', '.join(sorted(RESERVED_ENV))}, X_GOOGLE_*).")
    secrets = service.get("secretEnvironmentVariables") or []
    if not isinstance(secrets, list):
        raise invalid(f"Invalid value at '{_at(where)}.secret_environment_variables': expected a list.")
    seen = set()
    for i, item in enumerate(secrets):
        item = _object(item, f"{where}.secretEnvironmentVariables[{i}]", SECRET_ENV)
        key, secret, version = item.get("key"), item.get("secret"), item.get("version")
        if not isinstance(key, str) or not ENV_NAME.match(key) or key in RESERVED_ENV:
            raise invalid(f"secret_environment_variables[{i}].key must be an environment variable name.")
        if key in env or key in seen:
            raise invalid(f"Environment variable '{key}' is set more than once (environment_variables and "
                          "secret_environment_variables share one namespace).")
        seen.add(key)
        if not isinstance(secret, str) or not SECRET_ID.match(secret):
            raise invalid(f"secret_environment_variables[{i}].secret must be a secret ID (not a resource name).")
        if not isinstance(version, str) or not (version == "latest" or (version.isdigit() and version != "0")):
            raise invalid(f"secret_environment_variables[{i}].version must be a version number or 'latest'.")
    volumes = service.get("secretVolumes") or []
    if not isinstance(volumes, list):
        raise invalid(f"Invalid value at '{_at(where)}.secret_volumes': expected a list.")
    for i, item in enumerate(volumes):
        item = _object(item, f"{where}.secretVolumes[{i}]", SECRET_VOLUME)
        if not str(item.get("mountPath", "")).startswith("/") or not SECRET_ID.match(str(item.get("secret", ""))):
            raise invalid(f"secret_volumes[{i}] needs an absolute mount_path and a secret ID.")


def default_cpu(size: int) -> str:
    return next((cpu for limit, cpu in DEFAULT_CPU if size <= limit), "8")


def with_defaults(spec: dict, function_id: str, project: str, location: str, number: str) -> dict:
    """A copy of a checked configuration with the defaults Google fills in and shows on GET."""
    spec = copy.deepcopy(spec)
    compute = f"{number}-compute@developer.gserviceaccount.com"
    build = spec.setdefault("buildConfig", {})
    build.setdefault("entryPoint", function_id)
    build.setdefault("serviceAccount", f"projects/{project}/serviceAccounts/{compute}")
    build.setdefault("dockerRepository", f"projects/{project}/locations/{location}/repositories/gcf-artifacts")
    if "onDeployUpdatePolicy" not in build:
        build.setdefault("automaticUpdatePolicy", {})
    service = spec.setdefault("serviceConfig", {})
    memory = service.setdefault("availableMemory", "256M")
    service.setdefault("availableCpu", default_cpu(memory_bytes(memory)))
    service.setdefault("timeoutSeconds", 60)
    if not service.get("maxInstanceCount"):  # 0 reads as "not set"
        service["maxInstanceCount"] = 100
    service.setdefault("maxInstanceRequestConcurrency", 1)
    if service.get("ingressSettings") in (None, "INGRESS_SETTINGS_UNSPECIFIED"):
        service["ingressSettings"] = "ALLOW_ALL"
    service.setdefault("serviceAccountEmail", compute)
    service.setdefault("allTrafficOnLatestRevision", True)
    # 2nd gen functions carry this variable whether or not it was asked for.
    service["environmentVariables"] = {**service.get("environmentVariables", {}), "LOG_EXECUTION_ID": "true"}
    trigger = spec.get("eventTrigger")
    if trigger:
        trigger.setdefault("triggerRegion", location)
        trigger.setdefault("serviceAccountEmail", compute)
        if trigger.get("retryPolicy") in (None, "RETRY_POLICY_UNSPECIFIED"):
            trigger["retryPolicy"] = "RETRY_POLICY_DO_NOT_RETRY"
    return spec
