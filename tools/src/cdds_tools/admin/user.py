"""``cdds-admin user``: create users, change their roles, disable them, list a tenant's users.

Roles: ``exporter`` (CDDS access), ``admin`` (tenant administration), or ``none``. Passwords are
read from standard input (``--password-stdin``), never from the command line, which other users
of the machine can see.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from cdds_shared.errors import ValidationFailed
from cdds_shared.identity import ROLES, IdentityStore, User
from cdds_tools.admin.tenant import emit, user_json, with_identity

__all__ = ["register"]

ROLE_CHOICES = (*ROLES, "none")


def _roles(args: argparse.Namespace) -> list[str]:
    chosen: list[str] = args.role
    if "none" in chosen and len(chosen) > 1:
        raise ValidationFailed("--role none cannot be combined with other roles")
    return [r for r in chosen if r != "none"]


def _password(args: argparse.Namespace) -> str:
    if not args.password_stdin:
        raise ValidationFailed("give the password on standard input with --password-stdin")
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    line = sys.stdin.readline()
    return line.removesuffix("\n").removesuffix("\r")


def _create(args: argparse.Namespace) -> int:
    roles, password = _roles(args), _password(args)
    user = with_identity(
        lambda identity: identity.create_user(args.username, args.tenant, roles, password),
        _audit("user.create", roles=roles),
    )
    return emit(user_json(user))


def _audit(action: str, **detail: Any) -> Any:
    """What ``with_identity`` audits for a change to a user (never a password)."""
    return lambda user: (user.tenant, action, user.id, {"username": user.username, **detail})


def _disable(args: argparse.Namespace) -> int:
    async def work(identity: IdentityStore) -> User:
        user = await identity.user_named(args.username, args.tenant)
        return await identity.disable_user(user.id, disabled=not args.enable)

    action = "user.enable" if args.enable else "user.disable"
    return emit(user_json(with_identity(work, _audit(action))))


def _set_role(args: argparse.Namespace) -> int:
    roles = _roles(args)

    async def work(identity: IdentityStore) -> User:
        user = await identity.user_named(args.username, args.tenant)
        return await identity.set_roles(user.id, roles)

    return emit(user_json(with_identity(work, _audit("user.set_role", roles=roles))))


def _set_password(args: argparse.Namespace) -> int:
    password = _password(args)

    async def work(identity: IdentityStore) -> User:
        user = await identity.user_named(args.username, args.tenant)
        return await identity.set_password(user.id, password)

    return emit(user_json(with_identity(work, _audit("user.set_password"))))


def _list(args: argparse.Namespace) -> int:
    async def work(identity: IdentityStore) -> list[User]:
        await identity.get_tenant(args.tenant)
        return await identity.list_users(args.tenant)

    return emit({"users": [user_json(u) for u in with_identity(work)]})


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``user`` group (create, disable, set-role, set-password, list) to ``cdds-admin``."""
    group = subparsers.add_parser("user", help="users of a tenant, their roles and passwords")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tenant = argparse.ArgumentParser(add_help=False)
    tenant.add_argument("--tenant", required=True, metavar="NAME", help="the user's tenant")
    named = argparse.ArgumentParser(add_help=False, parents=[tenant])
    named.add_argument("username", metavar="USERNAME")
    roles = argparse.ArgumentParser(add_help=False)
    roles.add_argument(
        "--role",
        action="append",
        required=True,
        choices=ROLE_CHOICES,
        help="exporter (CDDS access), admin, or none; repeat for several",
    )
    password = argparse.ArgumentParser(add_help=False)
    password.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )

    cmd = commands.add_parser("create", parents=[named, roles, password], help="create a user")
    cmd.set_defaults(handler=_create)

    cmd = commands.add_parser(
        "disable", parents=[named], help="disable a user (their sessions end at once)"
    )
    cmd.add_argument("--enable", action="store_true", help="enable the user again instead")
    cmd.set_defaults(handler=_disable)

    cmd = commands.add_parser("set-role", parents=[named, roles], help="replace a user's roles")
    cmd.set_defaults(handler=_set_role)

    cmd = commands.add_parser(
        "set-password",
        parents=[named, password],
        help="set a new password (clears a lock, ends the user's sessions)",
    )
    cmd.set_defaults(handler=_set_password)

    cmd = commands.add_parser("list", parents=[tenant], help="a tenant's users, as JSON")
    cmd.set_defaults(handler=_list)
