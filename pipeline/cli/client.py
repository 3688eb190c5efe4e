"""A small client of the Operations API, for the CLI: the same path, checks and permissions as any Harper client."""
from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from ..config import Settings


class ApiClient:
    def __init__(self, settings: Settings, timeout: float = 300) -> None:
        host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::", "") else settings.http_host
        self.url = f"http://{host}:{settings.http_port}/"
        token = base64.b64encode(f"{settings.admin_username}:{settings.admin_password}".encode()).decode()
        self._auth = f"Basic {token}"
        self.timeout = timeout

    def call(self, body: dict, timeout: float | None = None) -> tuple[int, Any]:
        """POST one operation; (HTTP status, JSON answer). Raises OSError when nothing answers."""
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "Authorization": self._auth})
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def is_up(self) -> bool:
        try:
            self.call({"operation": "user_info"}, timeout=2)
        except (OSError, ValueError):
            return False
        return True

def api_for(settings: Settings, args: argparse.Namespace) -> ApiClient | None:
    """The API to go through (it authenticates and checks permissions), or None to use Kafka directly."""
    if getattr(args, "kafka", False):
        return None
    client = ApiClient(settings)
    return client if client.is_up() else None


def ok_or_exit(status: int, body: Any) -> Any:
    if status != 200:
        print(json.dumps(body), file=sys.stderr)
        sys.exit(1)
    return body
