"""What operators and users see of a worker over HTTP besides the Operations API: Harper's ``/health``,
readiness, Prometheus metrics, and the live jobs page (its files are package data under ``static/``)."""
from .routes import Console

__all__ = ["Console"]
