"""Cloud Function entry points. All logic lives in the switch package."""

import functions_framework

from switch import app


@functions_framework.http
def switch(request):
    """HTTP: Cloud Monitoring webhooks, and curl for failover, failback, reconcile and status."""
    return app.handle(request)
