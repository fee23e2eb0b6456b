"""The deployment files agree with the code and with each other.

Fast and offline: no npm, no network. `.ci/check-deploy` covers what needs
node (`serverless package` and the zip's contents).
"""

from __future__ import annotations

import ast
import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

try:  # PyYAML arrives with responses, ruamel.yaml with check-jsonschema
    import yaml

    def load_yaml(text: str):
        return yaml.safe_load(text)
except ImportError:  # pragma: no cover
    from ruamel.yaml import YAML

    def load_yaml(text: str):
        return YAML(typ="safe").load(text)


ROOT = Path(__file__).resolve().parents[1]

# An event-driven Cloud Run function stops a call after 540 s; the HTTP one is given the same.
MAX_TIMEOUT_SECONDS = 540

# API root overrides exist for the local emulator; a developer's shell must not
# carry them into production.
EMULATOR_ONLY = re.compile(r"^SWITCH_\w+_ENDPOINT$")
# Deploy-step variables that must come from Drone secrets, never from the file.
DRONE_SECRETS = {
    "GCP_SA_KEY", "SWITCH_PROJECT", "SWITCH_REGION", "SWITCH_IMAGE", "SWITCH_TOKEN",
    "SWITCH_BASIC_USER", "SWITCH_BASIC_PASSWORD", "SWITCH_CLOUDFLARE_TOKEN", "SWITCH_HOME_URL",
    "SWITCH_ALERT_POLICY",
}


@pytest.fixture(scope="module")
def serverless() -> dict:
    return load_yaml((ROOT / "serverless.yml").read_text())


@pytest.fixture(scope="module")
def drone() -> dict:
    return load_yaml((ROOT / ".drone.yml").read_text())


def drone_step(drone: dict, name: str) -> dict:
    steps = {step["name"]: step for step in drone["steps"]}
    assert name in steps, f".drone.yml has no step named {name!r} (has {sorted(steps)})"
    return steps[name]


def seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+)s", str(value))
    assert match, f"timeout {value!r} is not of the form '<n>s'"
    return int(match.group(1))


def decorated_functions(path: Path) -> dict[str, set[str]]:
    """Top-level functions of a module, each with its decorators as dotted names."""
    found = {}
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[node.name] = {ast.unparse(d.func if isinstance(d, ast.Call) else d)
                                for d in node.decorator_list}
    return found


# --- serverless.yml -------------------------------------------------------


def test_serverless_hands_the_deploy_to_the_local_plugin_after_the_google_provider(serverless):
    provider = serverless["provider"]
    assert serverless["service"] == "switch"
    assert str(serverless["frameworkVersion"]) == "3"
    assert provider["name"] == "google"
    # The Google plugin is the provider (package, schema); the local plugin, after it, replaces its deploy.
    assert serverless["plugins"] == ["serverless-google-cloudfunctions", "./deploy/serverless-plugin"]
    plugin = (ROOT / "deploy" / "serverless-plugin.js").read_text()
    assert "GoogleDeploy" in plugin and "'-m', 'switch', 'deploy'" in plugin
    # python312 is outside the plugin's runtime enum; "error" would refuse it.
    assert serverless.get("configValidationMode", "warn") == "warn"


def test_serverless_declares_what_python_deploy_does(serverless):
    from switch.ops import deploy, naming

    provider = serverless["provider"]
    assert provider["runtime"] == deploy.RUNTIMES[0]
    assert seconds(provider["timeout"]) == deploy.TIMEOUT_SECONDS <= MAX_TIMEOUT_SECONDS
    assert f"{provider['memorySize']}Mi" == deploy.MEMORY
    assert {f["handler"] for f in serverless["functions"].values()} == set(naming.ENTRY_POINTS)
    resource = serverless["functions"]["switch_pubsub"]["events"][0]["event"]["resource"]
    assert resource.endswith(f"{{env:SWITCH_PUBSUB_TOPIC, '{deploy.DEFAULT_TOPIC}'}}")
    # Nothing else decides the function's configuration: the deploy takes it from the environment.
    assert "environment" not in provider and not any("environment" in f for f in serverless["functions"].values())


def test_http_and_pubsub_functions_are_wired_to_their_events(serverless):
    functions = serverless["functions"]
    assert functions["switch"]["handler"] == "switch"
    assert list(functions["switch"]["events"][0]) == ["http"]
    assert functions["switch_pubsub"]["handler"] == "switch_pubsub"
    event = functions["switch_pubsub"]["events"][0]["event"]
    assert event["eventType"] == "providers/cloud.pubsub/eventTypes/topic.publish"
    assert re.fullmatch(r"projects/\$\{[^}]+\}/topics/\$\{[^}]+\}", event["resource"]), event["resource"]


def test_entry_points_exist_in_main_py_with_the_right_decorators(serverless):
    main = ROOT / "main.py"
    if not main.exists():
        pytest.skip("main.py does not exist yet")
    defined = decorated_functions(main)
    expected = {"switch": "functions_framework.http", "switch_pubsub": "functions_framework.cloud_event"}
    for name, function in serverless["functions"].items():
        handler = function["handler"]
        assert handler in defined, f"serverless.yml function {name!r} names handler {handler!r}, not defined in main.py"
        if handler in expected:
            assert expected[handler] in defined[handler], f"main.py: {handler} should be @{expected[handler]}"
    assert set(expected) <= {f["handler"] for f in serverless["functions"].values()}


def test_deploy_forwards_every_variable_the_settings_read_except_secrets_and_endpoints():
    config = pytest.importorskip("switch.config")
    from switch.ops.deploy import function_environment
    from switch.ops.kinds.secret import SECRETS

    class Recording(dict):
        """An environment that notes every name asked for."""

        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            self.asked = set()

        def get(self, key, default=None):
            self.asked.add(key)
            return super().get(key, default)

        def __getitem__(self, key):
            self.asked.add(key)
            return super().__getitem__(key)

        def __contains__(self, key):
            self.asked.add(key)
            return super().__contains__(key)

    env = Recording(SWITCH_PROJECT="my-project", SWITCH_REGION="europe-west1",
                    SWITCH_IMAGE="europe-west1-docker.pkg.dev/my-project/site/web:1")
    settings = config.from_env(env)
    read = {name for name in env.asked if name.startswith("SWITCH_")}
    assert read >= {"SWITCH_PROJECT", "SWITCH_TOKEN", "SWITCH_HOME_URL"}, f"too little seen: {sorted(read)}"
    everything = {name: "https://value.example.org/" for name in read}
    forwarded = function_environment(everything, settings)
    assert set(forwarded) == {n for n in read if not EMULATOR_ONLY.match(n) and n not in SECRETS}
    assert not [n for n in forwarded if EMULATOR_ONLY.match(n)]


def test_package_leaves_out_everything_but_the_function(serverless):
    patterns = set(serverless["package"]["patterns"])
    for excluded in ("node_modules/**", ".git/**", ".venv/**", "venv/**", "tests/**", "bench/**",
                     ".ci/**", ".serverless/**", "keyfile.json", ".drone.yml", "package*.json"):
        assert "!" + excluded in patterns, f"package.patterns should exclude {excluded}"
    assert not any(p.lstrip("!") in ("main.py", "requirements.txt", "switch/**") and p.startswith("!")
                   for p in patterns)


# --- .drone.yml -----------------------------------------------------------


def readme_test_command() -> list[str]:
    """The command under the README's "Run the tests" heading: what CI and Drone must run."""
    text = (ROOT / "README.md").read_text()
    heading = re.search(r"^#+ .*\btests\b.*$", text, re.MULTILINE | re.IGNORECASE)
    assert heading, "README.md needs a heading about running the tests"
    block = re.compile(r"^```(?:sh|bash|shell|console)\s*\n(.*?)^```", re.MULTILINE | re.DOTALL)
    found = block.search(text, heading.end())
    assert found, "README.md needs a ```sh block under its tests heading"
    lines = [line.strip().removeprefix("$ ") for line in found.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_drone_is_one_docker_pipeline_on_push_and_pull_request(drone):
    assert drone["kind"] == "pipeline"
    assert drone["type"] == "docker"
    assert set(drone["trigger"]["event"]) == {"push", "pull_request"}


def test_drone_runs_the_readme_test_command(drone):
    step = drone_step(drone, "test")
    assert step["image"] == "python:3.12"
    assert step["commands"] == readme_test_command()


def test_drone_deploys_only_on_push_to_main_through_serverless_and_python(drone):
    step = drone_step(drone, "deploy")
    assert step["when"] == {"branch": ["main"], "event": ["push"]}
    names = [s["name"] for s in drone["steps"]]
    assert names.index("test") < names.index("deploy"), "deploy must run after the tests"
    commands = "\n".join(step["commands"])
    assert "npx serverless deploy --stage prod" in commands
    # The local plugin runs python -m switch deploy with the .venv it finds.
    assert ".venv/bin/pip install -r requirements.txt" in commands
    assert commands.index("requirements.txt") < commands.index("serverless deploy")
    assert any("GOOGLE_APPLICATION_CREDENTIALS=/tmp/" in c for c in step["commands"])


def test_drone_deploy_takes_every_secret_from_drone_secrets(drone, serverless):
    environment = drone_step(drone, "deploy")["environment"]
    missing = sorted(DRONE_SECRETS - set(environment))
    assert not missing, f"deploy step does not pass {missing}"
    for name, value in environment.items():
        if name.startswith("SWITCH_") or name in DRONE_SECRETS or re.search(r"TOKEN|PASSWORD|KEY|SECRET", name):
            assert isinstance(value, dict) and set(value) == {"from_secret"}, \
                f"{name} must come from a Drone secret (from_secret), not the file"
    from switch import config

    known = {f"SWITCH_{name.upper()}" for name in config.Settings.__dataclass_fields__ if name != "site"} | {
        "SWITCH_PUBSUB_TOPIC", "SWITCH_STAGE", "SWITCH_SITES_FILE"}
    unknown = sorted(n for n in environment if n.startswith("SWITCH_") and n not in known)
    assert not unknown, f"deploy step passes {unknown}, which nothing reads"


def test_drone_file_matches_the_drone_schema(drone):
    schema_file = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "drone-ci.json"
    schema = json.loads(schema_file.read_text())
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    error = jsonschema.exceptions.best_match(validator_class(schema).iter_errors(drone))
    if error is not None:
        # The schema is a oneOf over pipeline kinds; the deepest sub-error says what is wrong.
        def deepest(e):
            return max([e, *map(deepest, e.context)], key=lambda x: len(x.absolute_path))
        error = deepest(error)
        pytest.fail(f".drone.yml at {list(error.absolute_path)}: {error.message[:300]}")


def readme_drill_command() -> list[str]:
    text = (ROOT / "README.md").read_text()
    heading = re.search(r"^#+ .*\bdrill\b.*$", text, re.MULTILINE | re.IGNORECASE)
    assert heading, "README.md needs a heading about the drill"
    found = re.compile(r"^```sh\s*\n(.*?)^```", re.MULTILINE | re.DOTALL).search(text, heading.end())
    assert found, "README.md needs a ```sh block under its drill heading"
    return [line.strip() for line in found.group(1).splitlines() if line.strip()]


def test_ci_runs_the_readmes_two_commands_as_written():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()

    for command in readme_drill_command() + readme_test_command():
        assert command in ci, f".ci/run does not run the README's command: {command}"
