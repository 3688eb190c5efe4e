"""Users and roles: who may call the Operations API.

Users and roles live in the compacted ``auth`` topic (keys ``role/<id>`` and
``user/<name>``), folded into every worker like the catalog, so any worker
can authenticate any request. scrypt is slow on purpose; so that it runs
once per user and password rather than once per request, a password that
verified is remembered in memory as a keyed digest (the key is random per
process and never stored).

Operations produced straight to the ``operations`` topic carry no
credentials and are not checked here: the topic's ACLs decide who may write
to it (see the README).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from .passwords import hash_password, verify_password

SUPER_USER_ROLE = "super_user"


@dataclass(frozen=True)
class Principal:
    """An authenticated user and the permissions of its role."""
    username: str
    permission: dict

    @property
    def super_user(self) -> bool:
        return self.permission.get("super_user") is True


class Directory:
    """Users and roles, folded from the ``auth`` topic's records."""

    def __init__(self) -> None:
        self.users: dict[str, dict] = {}
        self.roles: dict[str, dict] = {}
        self._key = secrets.token_bytes(32)
        self._verified: dict[str, tuple[str, bytes]] = {}

    def apply(self, key: str, value: Any) -> None:
        kind, _, name = key.partition("/")
        target = self.users if kind == "user" else self.roles if kind == "role" else None
        if target is None:
            return
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value

    # ---- the records that change it ----------------------------------------------------------
    @staticmethod
    def role_record(role_id: str, role: str, permission: dict, created: float | None = None) -> tuple[str, dict]:
        now = time.time() * 1000
        return f"role/{role_id}", {"id": role_id, "role": role, "permission": permission,
                                   "__createdtime__": created or now, "__updatedtime__": now}

    @staticmethod
    def user_record(username: str, password_hash: str, role_id: str, active: bool,
                    created: float | None = None) -> tuple[str, dict]:
        now = time.time() * 1000
        return f"user/{username}", {"username": username, "hash": password_hash, "role": role_id,
                                    "active": active, "__createdtime__": created or now, "__updatedtime__": now}

    def bootstrap_records(self, username: str, password: str) -> list[tuple[str, dict]]:
        """The first super user, when there is no user at all."""
        if self.users:
            return []
        records = []
        if SUPER_USER_ROLE not in self.roles:
            records.append(self.role_record(SUPER_USER_ROLE, SUPER_USER_ROLE, {"super_user": True}))
        records.append(self.user_record(username, hash_password(password), SUPER_USER_ROLE, True))
        return records

    # ---- reads ---------------------------------------------------------------------------------
    def role_id(self, name_or_id: Any) -> str | None:
        """Harper accepts a role's id or its name wherever a role is named."""
        if name_or_id in self.roles:
            return str(name_or_id)
        for role_id, role in self.roles.items():
            if role.get("role") == name_or_id:
                return role_id
        return None

    def users_of(self, role_id: str) -> list[str]:
        return [name for name, user in self.users.items() if user.get("role") == role_id]

    def public_user(self, user: dict) -> dict:
        """A user as list_users and user_info show it: the role resolved, no password hash."""
        shown = {k: v for k, v in user.items() if k != "hash"}
        shown["role"] = self.roles.get(user.get("role"), {"id": user.get("role")})
        return shown

    def principal(self, username: Any) -> Principal | None:
        """The named user, without its password: for a job the API already authenticated."""
        user = self.users.get(username) if isinstance(username, str) else None
        role = self.roles.get(user.get("role")) if user else None
        return Principal(username, role.get("permission") or {}) if role else None

    async def authenticate(self, username: str, password: str) -> Principal | None:
        user = self.users.get(username)
        if user is None or not user.get("active", True):
            return None
        stored = user.get("hash", "")
        digest = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        remembered = self._verified.get(username)
        if remembered is None or remembered[0] != stored or not hmac.compare_digest(remembered[1], digest):
            # off the event loop: a wrong password costs a full scrypt every time
            if not await asyncio.to_thread(verify_password, password, stored):
                return None
            self._verified[username] = (stored, digest)
        return self.principal(username)
