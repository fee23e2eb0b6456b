"""CloudRunService against Google's API shapes (responses through the transport)."""

import pytest
import responses

from switch.cloudrun import CloudRunService, Replica
from switch.errors import NotManaged, ReplicaFailed, ReplicaTimeout
from tests.conftest import PROJECT, REGION, SERVICE, SERVICE_URL, google_error, run_service


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def run(google):
    from switch.transport import build_client

    clock = FakeClock()
    client = build_client("run", "v1", f"https://{REGION}-run.googleapis.com/", 5)
    return CloudRunService(client, PROJECT, REGION, SERVICE, retries=2, sleep=clock.sleep, clock=clock)


def test_replica_reads_labels_annotations_and_readiness():
    replica = Replica.from_service(run_service(annotations={"switch/pinned": "true",
                                                             "switch/activated-at": "2026-11-20T00:01:21Z"}))

    assert replica.managed and replica.ready is True and replica.pinned
    assert replica.url == "https://site-replica-q2w3e4r5ta-ew.a.run.app"
    assert replica.activated_at == 1795132881.0


def test_ready_does_not_count_until_the_latest_generation_is_observed():
    assert Replica.from_service(run_service(generation=2, observed=1)).ready is None


def test_wait_ready_polls_with_backoff_until_ready(google, run):
    google.add(responses.GET, SERVICE_URL, json=run_service(ready="Unknown"))
    google.add(responses.GET, SERVICE_URL, json=run_service(ready="Unknown"))
    google.add(responses.GET, SERVICE_URL, json=run_service())
    seen = []

    replica = run.wait_ready(60, poll_interval=1.0, on_poll=lambda r, waited: seen.append(waited))

    assert replica.ready is True and len(seen) == 3
    assert seen[1] - seen[0] < seen[2] - seen[1] <= 1.0  # backs off, capped at the poll interval


def test_wait_ready_raises_with_the_conditions_message_when_ready_is_false(google, run):
    google.add(responses.GET, SERVICE_URL, json=run_service(ready="False", message="Image not found"))

    with pytest.raises(ReplicaFailed, match="Image not found"):
        run.wait_ready(60)


def test_wait_ready_gives_up_after_the_timeout(google, run):
    google.add(responses.GET, SERVICE_URL, json=run_service(ready="Unknown"))

    with pytest.raises(ReplicaTimeout):
        run.wait_ready(5, poll_interval=1.0)


def test_create_waits_out_a_409_from_a_service_still_being_deleted(google, run):
    exists = google_error(409, "ALREADY_EXISTS", f"Resource '{SERVICE}' already exists.")
    missing = google_error(404, "NOT_FOUND", "gone")
    google.add(responses.POST, f"{SERVICE_URL.rsplit('/', 1)[0]}", status=409, json=exists)
    google.add(responses.GET, SERVICE_URL, status=404, json=missing)
    google.add(responses.POST, f"{SERVICE_URL.rsplit('/', 1)[0]}", json=run_service(ready="Unknown"))

    replica = run.create({"metadata": {"name": SERVICE}})

    assert replica.managed and replica.ready is None
    assert len([c for c in google.calls if c.request.method == "POST"]) == 2


def test_delete_refuses_a_service_without_the_label(google, run):
    google.add(responses.GET, SERVICE_URL, json=run_service(managed=False))

    with pytest.raises(NotManaged, match="managed-by=switch"):
        run.delete()
    assert not [c for c in google.calls if c.request.method == "DELETE"]


def test_delete_of_a_missing_service_is_not_an_error(google, run):
    google.add(responses.GET, SERVICE_URL, status=404, json=google_error(404, "NOT_FOUND", "gone"))

    assert run.delete() is False


def test_an_html_404_from_the_wrong_host_is_reported_with_its_url(google, run):
    from switch.errors import UpstreamError

    google.add(responses.POST, SERVICE_URL.rsplit("/", 1)[0], status=404,
               body="<html>Error 404 (Not Found)!!1</html>", content_type="text/html")

    with pytest.raises(UpstreamError, match="HTTP 404 Not Found from https://europe-west1-run.googleapis.com/v1/"):
        run.create({"metadata": {"name": SERVICE}})


def test_make_public_does_nothing_when_already_public(google, run):
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json={"etag": "e", "bindings": [
        {"role": "roles/run.invoker", "members": ["allUsers"]}]})

    assert run.make_public() is False
    assert len(google.calls) == 1


def test_a_conditional_invoker_binding_is_not_treated_as_public(google, run):
    conditional = {"role": "roles/run.invoker", "members": ["allUsers"],
                   "condition": {"expression": "request.time < timestamp('2020-01-01T00:00:00Z')"}}
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json={"etag": "e", "bindings": [conditional]})
    google.add(responses.POST, f"{SERVICE_URL}:setIamPolicy", json={})

    assert run.make_public() is True
    import json
    sent = json.loads(google.calls[1].request.body)["policy"]["bindings"]
    assert conditional in sent and {"role": "roles/run.invoker", "members": ["allUsers"]} in sent
