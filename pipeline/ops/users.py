"""Harper's user and role operations: add_user, alter_user, drop_user, list_users, user_info and the role ones.

Every change is a record on the compacted ``auth`` topic (acks=all), folded
at once into the worker that made it and, from the topic, into every other.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable

from ..auth.directory import Directory, Principal
from ..auth.passwords import hash_password
from ..catalog import Catalog
from ..contract.answers import altered_user_answer, deleted_message, user_added_message
from ..contract.errors import HarperError
from ..contract.validate_users import (validate_add_user, validate_alter_user, validate_drop_role, validate_drop_user,
                                       validate_role)
from ..kafka.logview import LogView


class UserOperations:
    def __init__(self, directory: Directory, auth_log: LogView, catalog: Catalog) -> None:
        self.directory = directory
        self.auth_log = auth_log
        self.catalog = catalog
        self.handlers: dict[str, Callable[[dict, Principal | None], Any]] = {
            "add_user": self.add_user, "alter_user": self.alter_user, "drop_user": self.drop_user,
            "list_users": self.list_users, "user_info": self.user_info,
            "add_role": self.add_role, "alter_role": self.alter_role, "drop_role": self.drop_role,
            "list_roles": self.list_roles,
        }

    async def _put(self, record: tuple[str, Any]) -> None:
        await self.auth_log.put(*record)

    # ---- users ---------------------------------------------------------------------------------
    async def add_user(self, op: dict, principal: Principal | None) -> dict:
        role_id = self.directory.role_id(op.get("role"))
        op = validate_add_user(op, role_id is not None, op.get("username") in self.directory.users)
        password_hash = await asyncio.to_thread(hash_password, str(op["password"]))
        await self._put(self.directory.user_record(op["username"], password_hash, role_id, op["active"]))
        return {"message": user_added_message(op["username"])}

    async def alter_user(self, op: dict, principal: Principal | None) -> dict:
        role_id = self.directory.role_id(op.get("role")) if op.get("role") is not None else None
        user = self.directory.users.get(op.get("username"))
        op = validate_alter_user(op, role_id is not None, user is not None)
        password_hash = user["hash"]
        if op.get("password") is not None:
            password_hash = await asyncio.to_thread(hash_password, str(op["password"]))
        active = op["active"] if op.get("active") is not None else user.get("active", True)
        await self._put(self.directory.user_record(op["username"], password_hash, role_id or user["role"], active,
                                                   created=user.get("__createdtime__")))
        return altered_user_answer(op["username"])

    async def drop_user(self, op: dict, principal: Principal | None) -> dict:
        username = validate_drop_user(op, op.get("username") in self.directory.users)
        await self.auth_log.put(f"user/{username}", None)
        return {"message": deleted_message(username)}

    async def list_users(self, op: dict, principal: Principal | None) -> list:
        return [self.directory.public_user(u) for _, u in sorted(self.directory.users.items())]

    async def user_info(self, op: dict, principal: Principal | None) -> dict:
        if principal is None:  # an operation from the topic runs as no one in particular
            return {}
        return self.directory.public_user(self.directory.users[principal.username])

    # ---- roles ---------------------------------------------------------------------------------
    async def add_role(self, op: dict, principal: Principal | None) -> dict:
        names = [r.get("role") for r in self.directory.roles.values()] + list(self.directory.roles)
        op = validate_role(op, self.catalog, names, altering=False)
        role_id = str(op.get("id") or op["role"])
        key, record = self.directory.role_record(role_id, op["role"], op["permission"])
        await self._put((key, record))
        return record

    async def alter_role(self, op: dict, principal: Principal | None) -> dict:
        op = validate_role(op, self.catalog, (), altering=True)
        role = self.directory.roles.get(op["id"])
        if role is None:
            raise HarperError("Invalid role id", 404)
        key, record = self.directory.role_record(op["id"], op.get("role") or role["role"], op["permission"],
                                                 created=role.get("__createdtime__"))
        await self._put((key, record))
        return record

    async def drop_role(self, op: dict, principal: Principal | None) -> dict:
        role_id = self.directory.role_id(op.get("id"))
        validate_drop_role(op, role_id is not None, self.directory.users_of(role_id) if role_id else [])
        await self.auth_log.put(f"role/{role_id}", None)
        return {"message": deleted_message(str(op["id"]))}

    async def list_roles(self, op: dict, principal: Principal | None) -> list:
        return [role for _, role in sorted(self.directory.roles.items())]
