"""Local stand-ins for the APIs switch calls, served over real HTTP on loopback.

``Emulator`` serves Cloud Run Admin v1 (services, IAM, domain mappings),
Cloud Monitoring v3 (channels, uptime checks, alert policies, alerts), Cloud
Scheduler v1 jobs, Pub/Sub v1 topics and their IAM, Resource Manager v1
(projects and the project's IAM policy), Cloud Functions v2 (functions,
source upload, long-running operations, each function's Cloud Run service),
Secret Manager v1, IAM v1 service accounts and Cloudflare v4 redirect rules
on one port, with the paths and JSON shapes of the real services, plus fault
injection and a record of every call.
``HomeSite`` stands in for the self-hosted site. ``main`` is the command line.

Nothing here imports the Google client: the emulator speaks HTTP only.
"""

from .cli import main
from .home import HomeSite
from .server import Emulator, Record

__all__ = ["Emulator", "HomeSite", "Record", "main"]
