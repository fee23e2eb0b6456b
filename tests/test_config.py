"""Settings from the environment: defaults, and errors that name the variable."""

import pytest

from switch import config
from switch.errors import ConfigError
from tests.conftest import BASE_ENV


def load(**overrides):
    env = {**BASE_ENV, **overrides}
    return config.from_env({k: v for k, v in env.items() if v is not None})


def test_defaults():
    s = load(SWITCH_MIN_ACTIVE_SECONDS=None, SWITCH_PROBE_INTERVAL_SECONDS=None)

    assert (s.port, s.memory, s.cpu, s.max_instances) == (8080, "512Mi", "1", 3)
    assert s.run_endpoint == "https://europe-west1-run.googleapis.com/"
    assert (s.probe_count, s.health_path, s.min_active_seconds) == (3, "/healthz", 300)
    assert s.probe_interval_seconds == 2.0 and s.ready_timeout_seconds == 300
    assert s.container_env == {}
    assert s.probe_url is None


def test_project_falls_back_to_google_cloud_project():
    assert load(SWITCH_PROJECT=None, GOOGLE_CLOUD_PROJECT="other-project").project == "other-project"


def test_probe_url_is_the_home_origin_with_the_health_path():
    assert load(SWITCH_HOME_URL="https://www.example.org/blog?x=1").probe_url == "https://www.example.org/healthz"


def test_an_endpoint_gets_a_trailing_slash():
    assert load(SWITCH_RUN_ENDPOINT="http://127.0.0.1:8090").run_endpoint == "http://127.0.0.1:8090/"


@pytest.mark.parametrize("overrides,variable", [
    ({"SWITCH_PROJECT": None}, "SWITCH_PROJECT"),
    ({"SWITCH_PROJECT": "Bad_Project"}, "SWITCH_PROJECT"),
    ({"SWITCH_REGION": None}, "SWITCH_REGION"),
    ({"SWITCH_REGION": "europe-west1-b"}, "SWITCH_REGION"),
    ({"SWITCH_IMAGE": None}, "SWITCH_IMAGE"),
    ({"SWITCH_SERVICE": "Site_Replica"}, "SWITCH_SERVICE"),
    ({"SWITCH_SERVICE": "replica-"}, "SWITCH_SERVICE"),
    ({"SWITCH_SERVICE": "a" * 64}, "SWITCH_SERVICE"),
    ({"SWITCH_PORT": "http"}, "SWITCH_PORT"),
    ({"SWITCH_PORT": "70000"}, "SWITCH_PORT"),
    ({"SWITCH_MEMORY": "512MB"}, "SWITCH_MEMORY"),
    ({"SWITCH_CPU": "one"}, "SWITCH_CPU"),
    ({"SWITCH_MAX_INSTANCES": "0"}, "SWITCH_MAX_INSTANCES"),
    ({"SWITCH_CONTAINER_ENV": "{not json"}, "SWITCH_CONTAINER_ENV"),
    ({"SWITCH_CONTAINER_ENV": "[1]"}, "SWITCH_CONTAINER_ENV"),
    ({"SWITCH_CONTAINER_ENV": '{"PORT": "1"}'}, "SWITCH_CONTAINER_ENV"),
    ({"SWITCH_CONTAINER_ENV": '{"1BAD": "x"}'}, "SWITCH_CONTAINER_ENV"),
    ({"SWITCH_CONTAINER_ENV": '{"A": {"nested": 1}}'}, "SWITCH_CONTAINER_ENV"),
    ({"SWITCH_RUN_ENDPOINT": "ftp://x"}, "SWITCH_RUN_ENDPOINT"),
    ({"SWITCH_RUN_ENDPOINT": "http://run.example.org/"}, "SWITCH_RUN_ENDPOINT"),
    ({"SWITCH_HOME_URL": "www.example.org"}, "SWITCH_HOME_URL"),
    ({"SWITCH_PROBE_COUNT": "0"}, "SWITCH_PROBE_COUNT"),
    ({"SWITCH_PROBE_INTERVAL_SECONDS": "soon"}, "SWITCH_PROBE_INTERVAL_SECONDS"),
    ({"SWITCH_PROBE_INTERVAL_SECONDS": "nan"}, "SWITCH_PROBE_INTERVAL_SECONDS"),
    ({"SWITCH_MIN_ACTIVE_SECONDS": "-1"}, "SWITCH_MIN_ACTIVE_SECONDS"),
    ({"SWITCH_READY_TIMEOUT_SECONDS": "0"}, "SWITCH_READY_TIMEOUT_SECONDS"),
    ({"SWITCH_BASIC_PASSWORD": None}, "SWITCH_BASIC_PASSWORD"),
    ({"SWITCH_BASIC_USER": None}, "SWITCH_BASIC_USER"),
    ({"SWITCH_BASIC_USER": "a:b"}, "SWITCH_BASIC_USER"),
    ({"SWITCH_TOKEN": "short"}, "SWITCH_TOKEN"),
    ({"SWITCH_CLOUDFLARE_TOKEN": "cf-token"}, "SWITCH_CLOUDFLARE_ZONE_ID"),
    ({"SWITCH_CLOUDFLARE_TOKEN": "t", "SWITCH_CLOUDFLARE_ZONE_ID": "0" * 32, "SWITCH_CLOUDFLARE_HOST": "not a host"},
     "SWITCH_CLOUDFLARE_HOST"),
    ({"SWITCH_CLOUDFLARE_TOKEN": "t", "SWITCH_CLOUDFLARE_ZONE_ID": "zone", "SWITCH_CLOUDFLARE_HOST": "www.example.org"},
     "SWITCH_CLOUDFLARE_ZONE_ID"),
    ({"SWITCH_HEALTH_PATH": "healthz"}, "SWITCH_HEALTH_PATH"),
    ({"SWITCH_FAILOVER_DOMAIN": "https://failover.example.org"}, "SWITCH_FAILOVER_DOMAIN"),
    ({"SWITCH_TRUST_ALERTS": "maybe"}, "SWITCH_TRUST_ALERTS"),
])
def test_a_bad_value_is_an_error_naming_the_variable(overrides, variable):
    with pytest.raises(ConfigError) as caught:
        load(**overrides)

    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


def test_empty_values_count_as_unset():
    assert load(SWITCH_HOME_URL="", SWITCH_PORT="  ").home_url is None


def test_secrets_stay_out_of_repr():
    text = repr(load(SWITCH_CLOUDFLARE_TOKEN="cf-secret-value", SWITCH_CLOUDFLARE_ZONE_ID="0" * 32,
                     SWITCH_CLOUDFLARE_HOST="www.example.org"))

    assert "cf-secret-value" not in text
    assert BASE_ENV["SWITCH_TOKEN"] not in text and BASE_ENV["SWITCH_BASIC_PASSWORD"] not in text


def test_load_validates_once_per_environment(monkeypatch, env):
    first = config.load()

    assert config.load() is first
    monkeypatch.setenv("SWITCH_PORT", "9000")
    assert config.load().port == 9000


def test_every_problem_comes_in_one_error_so_one_run_shows_them_all():
    with pytest.raises(ConfigError) as caught:
        load(SWITCH_REGION=None, SWITCH_IMAGE=None, SWITCH_PORT="http", SWITCH_TOKEN="short")

    assert [v for v, _ in caught.value.problems] == ["SWITCH_REGION", "SWITCH_IMAGE", "SWITCH_TOKEN", "SWITCH_PORT"]
    message = caught.value.message
    assert message.startswith("SWITCH_REGION: is not set") and "(3 more below)" in message
    assert all(f"\n  {v}:" in message for v in ("SWITCH_IMAGE", "SWITCH_TOKEN", "SWITCH_PORT"))


@pytest.mark.parametrize("value", ["CHANGE-ME-TO-A-LONG-RANDOM-SECRET", "replace_me_with_something_long",
                                   "<your-token-goes-here>", "xxxxxxxxxxxxxxxxxxxx", "0000000000000000000",
                                   "${SWITCH_TOKEN_FROM_VAULT}"])
@pytest.mark.parametrize("variable", ["SWITCH_TOKEN", "SWITCH_BASIC_PASSWORD"])
def test_a_placeholder_secret_is_refused_without_echoing_it(variable, value):
    with pytest.raises(ConfigError) as caught:
        load(**{variable: value})

    assert caught.value.variable == variable
    assert "placeholder" in caught.value.message or "too short" in caught.value.message
    assert value not in caught.value.message


def test_a_basic_password_needs_as_many_characters_as_a_token():
    with pytest.raises(ConfigError) as caught:
        load(SWITCH_BASIC_PASSWORD="fifteen-chars15")
    assert caught.value.variable == "SWITCH_BASIC_PASSWORD" and "too short" in caught.value.message


def test_the_deploy_apis_have_their_own_endpoints():
    s = load(SWITCH_FUNCTIONS_ENDPOINT="http://127.0.0.1:8090", SWITCH_IAM_ENDPOINT="http://localhost:1/")

    assert s.functions_endpoint == "http://127.0.0.1:8090/" and s.iam_endpoint == "http://localhost:1/"
    assert s.secretmanager_endpoint == "https://secretmanager.googleapis.com/"
    with pytest.raises(ConfigError) as caught:
        load(SWITCH_SECRETMANAGER_ENDPOINT="http://secrets.example.org/")
    assert caught.value.variable == "SWITCH_SECRETMANAGER_ENDPOINT"


def test_a_command_that_does_not_use_region_or_image_does_not_ask_for_them():
    env = {k: v for k, v in BASE_ENV.items() if k not in ("SWITCH_REGION", "SWITCH_IMAGE")}

    settings = config.from_env(env, need=())
    assert settings.region == "" and settings.image == ""
    with pytest.raises(ConfigError):
        config.from_env(env)
