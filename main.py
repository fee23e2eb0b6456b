"""Cloud Function entry points. All logic lives in the switch package."""

import functions_framework

from switch import app


@functions_framework.http
def switch(request):
    """HTTP: Cloud Monitoring webhooks, and curl for failover, failback, reconcile and status."""
    return app.handle(request)


@functions_framework.cloud_event
def switch_pubsub(cloud_event):
    """Pub/Sub: the same notification from a Cloud Monitoring pubsub channel's topic."""
    from switch.events import handle_pubsub

    handle_pubsub(cloud_event.data)
