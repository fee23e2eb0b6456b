"""CloudflareRouter against a recorded Cloudflare API (responses): what it sends, and when."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from switch.config import Settings
from switch.errors import UpstreamError
from switch.traffic import router_for
from switch.traffic.cloudflare import CloudflareRouter, rule_ref

TOKEN = "cf-Secret-Token-0123456789abcdef"
ZONE = "0123456789abcdef0123456789abcdef"
HOST = "www.my-site.example.org"
API = "https://api.cloudflare.com/client/v4/"
ENTRY = f"{API}zones/{ZONE}/rulesets/phases/http_request_dynamic_redirect/entrypoint"
RULESET = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
RULES = f"{API}zones/{ZONE}/rulesets/{RULESET}/rules"
RULESETS = f"{API}zones/{ZONE}/rulesets"
OUR_REF = rule_ref("site-replica", HOST)
OUR_ID = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
REPLICA = "https://site-replica-123456789012.europe-west1.run.app"
OTHER_REPLICA = "https://site-replica-abcdefghij-ew.a.run.app"

FOREIGN = [
    {"id": "c" * 32, "ref": "old_blog", "version": "1", "action": "redirect", "enabled": True,
     "expression": '(http.host eq "blog.example.org")',
     "action_parameters": {"from_value": {"target_url": {"value": "https://example.org/blog"}, "status_code": 301}}},
    {"id": "d" * 32, "ref": "d" * 32, "version": "3", "action": "redirect", "enabled": False,
     "expression": '(http.request.uri.path eq "/shop")',
     "action_parameters": {"from_value": {"target_url": {"value": "https://shop.example.org/"}}}},
]


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def router(sleeps):
    return CloudflareRouter(token=TOKEN, zone_id=ZONE, host=HOST, endpoint=API, retries=4,
                            timeout=7.5, sleep=sleeps.append)


def ok(result):
    return {"success": True, "errors": [], "messages": [], "result": result}


def failure(code, message):
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


def ruleset(*rules):
    return {"id": RULESET, "name": "default", "kind": "zone", "phase": "http_request_dynamic_redirect",
            "version": "7", "rules": list(rules)}


def stored(router, target, enabled):
    """Our rule as Cloudflare hands it back: our definition plus read-only fields."""
    return {**router.rule(target, enabled), "id": OUR_ID, "version": "2", "last_updated": "2025-01-01T00:00:00Z"}


def no_entrypoint(api):
    api.get(ENTRY, status=404, json=failure(
        10003, "could not find entrypoint ruleset in the http_request_dynamic_redirect phase"))


def bodies(api):
    return [json.loads(call.request.body) for call in api.calls if call.request.body]


def writes(api):
    return [call.request.method for call in api.calls if call.request.method != "GET"]


def assert_no_foreign_rule_sent(api):
    for call in api.calls:
        body = call.request.body or b""
        text = body.decode() if isinstance(body, bytes) else body
        for rule in FOREIGN:
            assert rule["id"] not in text and rule["ref"] not in text


# -- the rule -----------------------------------------------------------------

def test_rule_is_a_302_that_keeps_path_and_query_and_skips_the_health_path(router):
    assert router.rule(REPLICA + "/", True) == {
        "ref": OUR_REF,
        "description": f"switch (site-replica): {HOST} is down, send visitors to its Cloud Run replica",
        "expression": '(http.host eq "www.my-site.example.org" and http.request.uri.path ne "/healthz")',
        "action": "redirect",
        "action_parameters": {"from_value": {
            "target_url": {"expression": f'concat("{REPLICA}", http.request.uri.path)'},
            "status_code": 302,
            "preserve_query_string": True,
        }},
        "enabled": True,
    }


def test_expression_quotes_a_dashed_host_and_escapes_quotes_and_backslashes(sleeps):
    router = CloudflareRouter(token=TOKEN, zone_id=ZONE, host="my-site.example-host.org", endpoint=API,
                              health_path='/he"alth\\z', sleep=sleeps.append)
    assert router.expression() == (
        '(http.host eq "my-site.example-host.org" and http.request.uri.path ne "/he\\"alth\\\\z")')


def test_expression_without_health_path_matches_the_whole_host(sleeps):
    router = CloudflareRouter(token=TOKEN, zone_id=ZONE, host=HOST, endpoint=API, health_path=None)
    assert router.expression() == '(http.host eq "www.my-site.example.org")'


@pytest.mark.parametrize("url", [
    'https://evil.run.app/"), http.request.uri.path) or (true',
    "https://back\\slash.run.app",
    "http://site-replica.run.app",
    "ftp://site-replica.run.app",
    "https://site-replica.run.app/?a=1",
    "https://site-replica.run.app/#top",
    "https://user:pw@site-replica.run.app",
    "https://site replica.run.app",
    "https://",
    "site-replica.run.app",
    "",
])
def test_bad_target_raises_value_error_before_any_call(router, api, url):
    with pytest.raises(ValueError, match="redirect target"):
        router.send_to(url)
    assert len(api.calls) == 0


@pytest.mark.parametrize("url", ["http://127.0.0.1:8089", "http://localhost:8089/", "http://[::1]:8089"])
def test_plain_http_is_allowed_for_a_loopback_emulator(router, url):
    target = router.rule(url, True)["action_parameters"]["from_value"]["target_url"]["expression"]
    assert target == f'concat("{url.rstrip("/")}", http.request.uri.path)'


# -- send_to --------------------------------------------------------------------

def test_first_send_to_without_entry_point_creates_it_with_exactly_our_rule_never_a_put(router, api):
    no_entrypoint(api)
    api.post(RULESETS, json=ok(ruleset(stored(router, REPLICA, True))))

    assert router.send_to(REPLICA) is True

    assert writes(api) == ["POST"]
    (body,) = bodies(api)
    assert body == {"name": "default", "kind": "zone", "phase": "http_request_dynamic_redirect",
                    "description": "Single Redirects", "rules": [router.rule(REPLICA, True)]}
    (rule,) = body["rules"]
    assert rule["ref"] == OUR_REF and rule["enabled"] is True
    assert rule["action_parameters"]["from_value"]["status_code"] == 302
    assert rule["action_parameters"]["from_value"]["preserve_query_string"] is True
    assert 'http.request.uri.path ne "/healthz"' in rule["expression"]
    assert rule["action_parameters"]["from_value"]["target_url"] == {
        "expression": f'concat("{REPLICA}", http.request.uri.path)'}


def test_a_ruleset_someone_created_between_our_read_and_write_keeps_their_rule(router, api):
    # Our read found no entry point; theirs landed just before our create. A PUT
    # would have replaced their rule; the create is refused and our rule is added beside it.
    no_entrypoint(api)
    api.post(RULESETS, status=400, json=failure(20217, "a ruleset of this phase already exists"))
    api.get(ENTRY, json=ok(ruleset(FOREIGN[0])))
    api.post(RULES, json=ok(ruleset(FOREIGN[0], stored(router, REPLICA, True))))

    assert router.send_to(REPLICA) is True

    assert writes(api) == ["POST", "POST"]
    assert bodies(api)[-1] == router.rule(REPLICA, True)
    assert_no_foreign_rule_sent(api)


def test_two_deployments_in_one_zone_never_touch_each_others_rule(sleeps, api):
    blog = CloudflareRouter(token=TOKEN, zone_id=ZONE, host="blog.example.org", endpoint=API, service="blog-replica",
                            sleep=sleeps.append)
    wiki = CloudflareRouter(token=TOKEN, zone_id=ZONE, host="wiki.example.org", endpoint=API, service="wiki-replica",
                            sleep=sleeps.append)
    blogs = {**blog.rule(REPLICA, True), "id": "e" * 32, "version": "1"}
    api.get(ENTRY, json=ok(ruleset(blogs)))
    api.post(RULES, json=ok(ruleset(blogs, {**wiki.rule(OTHER_REPLICA, True), "id": "f" * 32})))

    assert blog.ref != wiki.ref
    assert wiki.restore() is False  # the blog's rule is on, but it is not the wiki's to switch off
    assert wiki.current().enabled is False
    assert wiki.send_to(OTHER_REPLICA) is True  # its own rule, beside the blog's
    assert bodies(api) == [wiki.rule(OTHER_REPLICA, True)]


def test_a_rule_from_before_refs_named_the_deployment_is_ours_only_for_our_host(router, api):
    legacy = {**router.rule(REPLICA, True), "ref": "switch_failover", "id": OUR_ID, "version": "1"}
    someone = {**legacy, "id": "9" * 32, "expression": '(http.host eq "other.example.org")'}
    api.get(ENTRY, json=ok(ruleset(legacy)))
    api.patch(f"{RULES}/{OUR_ID}", json=ok(ruleset({**legacy, "enabled": False})))
    api.get(ENTRY, json=ok(ruleset(someone)))

    assert router.restore() is True  # ours, from before: switched off, and given our ref
    assert bodies(api)[0]["ref"] == OUR_REF
    assert router.current().enabled is False  # another host's legacy rule is not ours


def test_send_to_with_foreign_rules_posts_only_our_rule_and_never_puts(router, api):
    api.get(ENTRY, json=ok(ruleset(*FOREIGN)))
    api.post(RULES, json=ok(ruleset(*FOREIGN, stored(router, REPLICA, True))))

    assert router.send_to(REPLICA) is True

    assert writes(api) == ["POST"]
    assert bodies(api) == [router.rule(REPLICA, True)]
    assert_no_foreign_rule_sent(api)


def test_send_to_with_an_empty_entry_point_posts_rather_than_puts(router, api):
    api.get(ENTRY, json=ok({k: v for k, v in ruleset().items() if k != "rules"}))
    api.post(RULES, json=ok(ruleset(stored(router, REPLICA, True))))

    assert router.send_to(REPLICA) is True
    assert writes(api) == ["POST"]


def test_second_send_to_with_everything_in_place_only_reads(router, api):
    api.get(ENTRY, json=ok(ruleset(FOREIGN[0], stored(router, REPLICA, True), FOREIGN[1])))

    assert router.send_to(REPLICA + "/") is False
    assert writes(api) == []


def test_send_to_a_new_url_patches_the_full_definition(router, api):
    api.get(ENTRY, json=ok(ruleset(*FOREIGN, stored(router, REPLICA, True))))
    api.patch(f"{RULES}/{OUR_ID}", json=ok(ruleset(*FOREIGN, stored(router, OTHER_REPLICA, True))))

    assert router.send_to(OTHER_REPLICA) is True

    assert writes(api) == ["PATCH"]
    assert bodies(api) == [router.rule(OTHER_REPLICA, True)]
    assert_no_foreign_rule_sent(api)


def test_send_to_reenables_a_disabled_rule_with_the_full_definition(router, api):
    api.get(ENTRY, json=ok(ruleset(stored(router, REPLICA, False))))
    api.patch(f"{RULES}/{OUR_ID}", json=ok(ruleset(stored(router, REPLICA, True))))

    assert router.send_to(REPLICA) is True
    assert bodies(api) == [router.rule(REPLICA, True)]


def test_send_to_rewrites_a_rule_someone_turned_into_a_301(router, api):
    edited = stored(router, REPLICA, True)
    edited["action_parameters"]["from_value"].pop("status_code")  # Cloudflare's default: 301
    api.get(ENTRY, json=ok(ruleset(edited)))
    api.patch(f"{RULES}/{OUR_ID}", json=ok(ruleset(stored(router, REPLICA, True))))

    assert router.send_to(REPLICA) is True
    assert bodies(api)[0]["action_parameters"]["from_value"]["status_code"] == 302


def test_post_refused_because_our_rule_appeared_meanwhile_reads_again_and_carries_on(router, api):
    api.get(ENTRY, json=ok(ruleset(*FOREIGN)))
    api.post(RULES, status=400, json=failure(20217, "'ref' must be unique"))
    api.get(ENTRY, json=ok(ruleset(*FOREIGN, stored(router, REPLICA, True))))

    assert router.send_to(REPLICA) is False
    assert writes(api) == ["POST"]


def test_post_refused_for_another_reason_raises_cloudflares_error(router, api):
    api.get(ENTRY, json=ok(ruleset(*FOREIGN)))
    api.post(RULES, status=400, json=failure(20021, "filter parsing error"))
    api.get(ENTRY, json=ok(ruleset(*FOREIGN)))

    with pytest.raises(UpstreamError, match=r"^Cloudflare: filter parsing error \(code 20021\)"):
        router.send_to(REPLICA)


# -- restore --------------------------------------------------------------------

def test_restore_patches_enabled_false_with_the_full_definition_and_leaves_foreign_rules_alone(router, api):
    api.get(ENTRY, json=ok(ruleset(FOREIGN[0], stored(router, REPLICA, True), FOREIGN[1])))
    api.patch(f"{RULES}/{OUR_ID}", json=ok(ruleset(FOREIGN[0], stored(router, REPLICA, False), FOREIGN[1])))

    assert router.restore() is True

    assert writes(api) == ["PATCH"]
    assert bodies(api) == [router.rule(REPLICA, False)]
    assert_no_foreign_rule_sent(api)


def test_restore_without_entry_point_makes_no_write(router, api):
    no_entrypoint(api)
    assert router.restore() is False
    assert writes(api) == []


def test_restore_without_our_rule_makes_no_write(router, api):
    api.get(ENTRY, json=ok(ruleset(*FOREIGN)))
    assert router.restore() is False
    assert writes(api) == []


def test_restore_of_a_disabled_rule_makes_no_write(router, api):
    api.get(ENTRY, json=ok(ruleset(stored(router, REPLICA, False))))
    assert router.restore() is False
    assert writes(api) == []


# -- current --------------------------------------------------------------------

def test_current_reads_enabled_and_target_from_our_rule(router, api):
    api.get(ENTRY, json=ok(ruleset(FOREIGN[0], stored(router, REPLICA, True))))
    state = router.current()
    assert (state.configured, state.enabled, state.target) == (True, True, REPLICA)
    assert REPLICA in state.detail


def test_current_of_a_disabled_rule_shows_the_last_target(router, api):
    api.get(ENTRY, json=ok(ruleset(stored(router, REPLICA, False))))
    state = router.current()
    assert (state.configured, state.enabled, state.target) == (True, False, REPLICA)
    assert "disabled" in state.detail


def test_current_without_entry_point_or_rule_is_configured_but_off(router, api):
    no_entrypoint(api)
    api.get(ENTRY, json=ok(ruleset(*FOREIGN)))
    for state in (router.current(), router.current()):
        assert (state.configured, state.enabled, state.target) == (True, False, None)
        assert state.detail


def test_current_reads_a_static_value_target(router, api):
    rule = stored(router, REPLICA, True)
    rule["action_parameters"]["from_value"]["target_url"] = {"value": REPLICA}
    api.get(ENTRY, json=ok(ruleset(rule)))
    assert router.current().target == REPLICA


def test_current_unescapes_the_target_literal(router, api):
    rule = stored(router, REPLICA, True)
    rule["action_parameters"]["from_value"]["target_url"] = {
        "expression": 'concat("https://a.run.app/x\\"y\\\\z", http.request.uri.path)'}
    api.get(ENTRY, json=ok(ruleset(rule)))
    assert router.current().target == 'https://a.run.app/x"y\\z'


def test_current_raises_when_the_api_fails(router, api):
    api.get(ENTRY, status=403, json=failure(10000, "Authentication error"))
    with pytest.raises(UpstreamError):
        router.current()


def test_a_404_other_than_missing_entry_point_is_an_error(router, api):
    api.get(ENTRY, status=404, json=failure(7003, "Could not route to /zones/..., perhaps your object identifier is invalid?"))
    with pytest.raises(UpstreamError, match=r"code 7003") as caught:
        router.send_to(REPLICA)
    assert caught.value.status_code == 404 and not caught.value.retryable
    assert writes(api) == []


# -- transport --------------------------------------------------------------------

def test_every_call_carries_the_bearer_token_json_type_and_timeout(router, api):
    no_entrypoint(api)
    api.post(RULESETS, json=ok(ruleset(stored(router, REPLICA, True))))
    router.send_to(REPLICA)
    for call in api.calls:
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert call.request.headers["Content-Type"] == "application/json"
        assert call.request.req_kwargs["timeout"] == 7.5


def test_the_token_is_not_set_on_a_shared_session(api, sleeps):
    session = requests.Session()
    router = CloudflareRouter(token=TOKEN, zone_id=ZONE, host=HOST, endpoint=API, session=session,
                              sleep=sleeps.append)
    api.get(ENTRY, json=ok(ruleset()))
    router.current()
    assert router.session is session
    assert "Authorization" not in session.headers


def test_429_then_200_is_retried_honouring_retry_after(router, api, sleeps):
    api.get(ENTRY, status=429, headers={"Retry-After": "3"}, json=failure(971, "Please wait and consider throttling your request speed"))
    api.get(ENTRY, json=ok(ruleset(stored(router, REPLICA, True))))

    assert router.send_to(REPLICA) is False
    assert sleeps == [3.0]


def test_a_long_retry_after_is_capped(router, api, sleeps):
    api.get(ENTRY, status=429, headers={"Retry-After": "300"}, json=failure(971, "Please wait"))
    api.get(ENTRY, json=ok(ruleset()))
    router.current()
    assert sleeps == [10.0]


def test_persistent_500_raises_a_retryable_error_with_cloudflares_message(router, api, sleeps):
    for _ in range(5):
        api.get(ENTRY, status=500, json=failure(10001, "Internal server error"))

    with pytest.raises(UpstreamError) as caught:
        router.send_to(REPLICA)

    error = caught.value
    assert str(error).startswith("Cloudflare: Internal server error (code 10001)")
    assert error.api == "cloudflare" and error.status_code == 500 and error.retryable is True
    assert len(api.calls) == 5 and len(sleeps) == 4
    # exponential backoff with jitter: each wait within [half, full] of 0.5, 1, 2, 4 s
    for wait, full in zip(sleeps, [0.5, 1, 2, 4]):
        assert full / 2 <= wait <= full


def test_a_5xx_without_json_is_retried_then_reported_by_status(router, api, sleeps):
    for _ in range(5):
        api.get(ENTRY, status=502, body="<html>Bad gateway</html>", content_type="text/html")
    with pytest.raises(UpstreamError, match="HTTP 502") as caught:
        router.current()
    assert caught.value.retryable


def test_403_names_the_permission_and_is_not_retried(router, api, sleeps):
    api.get(ENTRY, status=403, json=failure(10000, "Authentication error"))

    with pytest.raises(UpstreamError) as caught:
        router.send_to(REPLICA)

    error = caught.value
    assert str(error).startswith("Cloudflare: Authentication error (code 10000)")
    assert "Single Redirect" in str(error) and "Edit" in str(error)
    assert error.status_code == 403 and error.retryable is False
    assert len(api.calls) == 1 and sleeps == []


def test_401_says_the_token_is_invalid(router, api):
    api.get(ENTRY, status=401, json=failure(10000, "Authentication error"))
    with pytest.raises(UpstreamError, match="invalid or expired"):
        router.current()


def test_success_false_with_http_200_is_an_error(router, api, sleeps):
    api.get(ENTRY, json=ok(ruleset(*FOREIGN)))
    api.post(RULES, status=200, json=failure(20100, "rule could not be saved"))
    api.get(ENTRY, json=ok(ruleset(*FOREIGN)))

    with pytest.raises(UpstreamError, match=r"^Cloudflare: rule could not be saved \(code 20100\)") as caught:
        router.send_to(REPLICA)
    assert caught.value.retryable is False and sleeps == []


def test_connection_error_is_retried_then_raises(router, api, sleeps):
    for _ in range(5):
        api.get(ENTRY, body=requests.ConnectionError("connection refused"))

    with pytest.raises(UpstreamError, match="could not reach") as caught:
        router.current()

    assert caught.value.retryable is True
    assert len(sleeps) == 4


def test_connection_error_then_success_carries_on(router, api, sleeps):
    api.get(ENTRY, body=requests.Timeout("read timed out"))
    no_entrypoint(api)
    api.post(RULESETS, json=ok(ruleset(stored(router, REPLICA, True))))
    assert router.send_to(REPLICA) is True
    assert len(sleeps) == 1


def test_the_token_never_appears_in_errors_or_repr(router, api, caplog):
    api.get(ENTRY, status=403, json=failure(10000, f"Authentication error for token {TOKEN}"))
    for _ in range(5):
        api.get(ENTRY, body=requests.ConnectionError(f"refused with Bearer {TOKEN}"))

    with caplog.at_level("DEBUG"):
        with pytest.raises(UpstreamError) as forbidden:
            router.current()
        with pytest.raises(UpstreamError) as unreachable:
            router.current()

    for error in (forbidden.value, unreachable.value):
        assert TOKEN not in str(error) and TOKEN not in repr(error) and TOKEN not in repr(error.details)
    assert TOKEN not in repr(router) and TOKEN not in repr(vars(router))
    assert TOKEN not in caplog.text


# -- wiring -----------------------------------------------------------------------

def test_router_for_builds_it_from_settings():
    # Settings built directly: the wiring is under test here, not the environment parsing.
    settings = Settings(
        project="my-project-1", region="europe-west1", service="site-replica",
        image="europe-west1-docker.pkg.dev/my-project-1/site/site:1",
        cloudflare_token=TOKEN, cloudflare_zone_id=ZONE, cloudflare_host=HOST,
        cloudflare_endpoint="http://127.0.0.1:8089/cf/", health_path="/up",
        api_retries=2, http_timeout_seconds=12.0)
    router = router_for(settings)
    assert isinstance(router, CloudflareRouter)
    assert router.endpoint == "http://127.0.0.1:8089/cf/"
    assert repr(router).startswith("CloudflareRouter(") and TOKEN not in repr(settings)
    assert (router.zone_id, router.host, router.retries, router.timeout) == (ZONE, HOST, 2, 12.0)
    assert router.expression() == f'(http.host eq "{HOST}" and http.request.uri.path ne "/up")'


def test_retry_after_as_an_http_date_is_honoured(router, api, sleeps):
    api.get(ENTRY, status=503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, json=failure(10001, "busy"))
    api.get(ENTRY, json=ok(ruleset()))
    router.current()
    assert sleeps == [0.0]  # a date in the past: retry at once
