"""Readiness: whether this worker should receive traffic (compose healthchecks, Kubernetes readiness probes).

Ready means both: the worker has folded ``catalog``, ``auth`` and ``jobs`` up
to their ends as of its start (so it knows every table, user and job), and
Faust has given it its first partition assignment (it has joined its group).
A later rebalance does not make it unready: the Operations API keeps answering
through one, and a probe that flapped on every rebalance would take the
workers out of service exactly when they are being added.
"""
from __future__ import annotations

import asyncio
from typing import Any


class Readiness:
    def __init__(self, views_ready: asyncio.Event) -> None:
        self.views_ready = views_ready
        self.joined = False
        self.rebalancing = False

    def assigned(self) -> None:
        self.joined = True
        self.rebalancing = False

    @property
    def ready(self) -> bool:
        return self.views_ready.is_set() and self.joined

    def answer(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) of the readiness endpoint."""
        checks = {"views_caught_up": self.views_ready.is_set(), "joined_group": self.joined}
        if self.ready:
            return 200, {"ready": True, "checks": checks, "rebalancing": self.rebalancing}
        waiting = []
        if not checks["views_caught_up"]:
            waiting.append("catching up with the catalog, auth and jobs topics")
        if not checks["joined_group"]:
            waiting.append("joining the consumer group")
        return 503, {"ready": False, "reason": "the worker is " + " and ".join(waiting), "checks": checks}
