"""switch: keep a self-hosted site online from Cloud Run when its home goes dark."""

__version__ = "0.1.0"
