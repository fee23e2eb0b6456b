"""The home probe: N consecutive 2xx answers, redirects not followed."""

import pytest
import requests
import responses

from switch.probe import answers_publicly, probe

URL = "https://www.example.org/healthz"


def no_sleep(seconds):
    pass


@responses.activate
def test_three_2xx_answers_in_a_row_are_healthy():
    for status in (200, 204, 200):
        responses.add(responses.GET, URL, status=status)

    result = probe(URL, count=3, interval=0, sleep=no_sleep)

    assert result.healthy and result.answers == ["200", "204", "200"]


@responses.activate
def test_two_healthy_then_one_failing_is_not_healthy():
    for status in (200, 200, 503):
        responses.add(responses.GET, URL, status=status)

    result = probe(URL, count=3, interval=0, sleep=no_sleep)

    assert not result.healthy and result.answers == ["200", "200", "503"]


@responses.activate
def test_probing_stops_at_the_first_bad_answer():
    responses.add(responses.GET, URL, status=500)
    responses.add(responses.GET, URL, status=200)

    result = probe(URL, count=3, interval=0, sleep=no_sleep)

    assert not result.healthy and len(responses.calls) == 1


@responses.activate
def test_a_redirect_is_the_sites_answer_and_is_not_followed():
    responses.add(responses.GET, URL, status=302, headers={"Location": "https://site-replica-x.a.run.app/healthz"})

    result = probe(URL, count=2, interval=0, sleep=no_sleep)

    assert not result.healthy and result.answers == ["302"]
    assert len(responses.calls) == 1


@responses.activate
@pytest.mark.parametrize("error,label", [(requests.exceptions.ConnectTimeout("t"), "timeout"),
                                         (requests.exceptions.ConnectionError("refused"), "ConnectionError")])
def test_no_answer_is_not_healthy(error, label):
    responses.add(responses.GET, URL, body=error)

    assert probe(URL, count=3, interval=0, sleep=no_sleep).answers == [label]


@responses.activate
def test_probes_are_spaced_by_the_interval():
    for _ in range(3):
        responses.add(responses.GET, URL, status=200)
    slept = []

    probe(URL, count=3, interval=2.0, sleep=slept.append)

    assert slept == [2.0, 2.0]


@responses.activate
def test_googles_iam_403_means_the_replica_is_not_yet_public_but_the_apps_own_403_does_not():
    replica = "https://site-replica-x.a.run.app"
    responses.add(responses.GET, f"{replica}/", status=403,
                  body="<h2>Your client does not have permission to get URL <code>/</code> from this server.</h2>")
    responses.add(responses.GET, f"{replica}/", status=403, body="members only")

    assert answers_publicly(replica) == (False, "403 (IAM not yet propagated)")
    assert answers_publicly(replica) == (True, "403")
