"""Credentials: Basic and token, constant time, fail closed."""

import base64

import pytest

from switch import config
from switch.auth import authenticate
from switch.errors import ConfigError, Unauthorized
from tests.conftest import BASE_ENV, PASSWORD, TOKEN, USER


def settings(**overrides):
    env = {**BASE_ENV, **overrides}
    return config.from_env({k: v for k, v in env.items() if v is not None})


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_credentials_are_accepted():
    assert authenticate([basic(USER, PASSWORD)], [], settings()) == "basic"


def test_the_basic_scheme_name_is_case_insensitive():
    assert authenticate(["basic " + basic(USER, PASSWORD).split()[1]], [], settings()) == "basic"


def test_bearer_and_query_token_are_accepted():
    assert authenticate([f"Bearer {TOKEN}"], [], settings()) == "token"
    assert authenticate([], [TOKEN], settings()) == "token"


@pytest.mark.parametrize("headers,tokens", [
    ([], []),
    ([basic(USER, "wrong")], []),
    ([basic("wrong", PASSWORD)], []),
    ([basic(USER, PASSWORD.upper())], []),
    ([basic(USER, "")], []),
    (["Basic " + base64.b64encode(USER.encode()).decode()], []),  # no colon at all
    ([f"Bearer {TOKEN[:-1]}"], []),
    ([f"Bearer {TOKEN}x"], []),
    ([f"Bearer {TOKEN.upper()}"], []),
    ([], [TOKEN[:-1]]),
    ([], ["x" * 5000]),
    (["Bearer " + "x" * 5000], []),
    ([basic(USER, PASSWORD), basic(USER, PASSWORD)], []),  # doubled header
    ([], [TOKEN, TOKEN]),  # doubled query
    ([f"Bearer {TOKEN}"], [TOKEN]),  # two kinds at once
    ([TOKEN], []),  # token with no scheme
    (["Token " + TOKEN], []),
])
def test_wrong_missing_partial_or_doubled_credentials_are_refused(headers, tokens):
    with pytest.raises(Unauthorized):
        authenticate(headers, tokens, settings())


def test_a_token_is_refused_where_only_basic_is_configured():
    only_basic = settings(SWITCH_TOKEN=None)

    with pytest.raises(Unauthorized):
        authenticate([f"Bearer {TOKEN}"], [], only_basic)
    with pytest.raises(Unauthorized):
        authenticate([], [TOKEN], only_basic)


def test_basic_is_refused_where_only_a_token_is_configured():
    only_token = settings(SWITCH_BASIC_USER=None, SWITCH_BASIC_PASSWORD=None)

    with pytest.raises(Unauthorized):
        authenticate([basic(USER, PASSWORD)], [], only_token)


def test_nothing_configured_fails_closed_with_a_configuration_error():
    nothing = settings(SWITCH_TOKEN=None, SWITCH_BASIC_USER=None, SWITCH_BASIC_PASSWORD=None)

    with pytest.raises(ConfigError, match="SWITCH_TOKEN"):
        authenticate([basic(USER, PASSWORD)], [TOKEN], nothing)
