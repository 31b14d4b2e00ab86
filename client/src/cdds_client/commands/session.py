"""``cdds login URL`` and ``cdds logout``: a session of the gateway, kept in the credentials
file (docs/cli.md § Where credentials live)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from cdds_client.api import Api, ApiFailure
from cdds_client.credentials import Credentials, credentials_path, forget, load, resolve, save
from cdds_client.errors import NotSignedIn, UsageError
from cdds_client.output import say

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    login = subparsers.add_parser(
        "login",
        help="sign in and keep the session",
        description="Sign in to the gateway at URL; the token is kept in "
        "$XDG_CONFIG_HOME/cdds/credentials.json (mode 0600).",
    )
    login.add_argument("url", metavar="URL", help="the gateway, e.g. https://cdds.example.com")
    login.add_argument("--username", required=True, metavar="U")
    login.add_argument("--tenant", metavar="T", help="needed when U exists in several tenants")
    login.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    login.set_defaults(handler=run_login)
    logout = subparsers.add_parser(
        "logout", parents=[common], help="end the session, here and on the server"
    )
    logout.set_defaults(handler=run_logout)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin is not None and sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        raise UsageError("no terminal to ask for the password: give --password-stdin")
    if not password:
        raise UsageError("the password is empty")
    return password


def run_login(args: argparse.Namespace) -> int:
    if not args.url.startswith(("https://", "http://")):
        raise UsageError(f"not a URL: {args.url!r}; give it with https:// (or http://)")
    body = {"username": args.username, "password": _password(args.password_stdin)}
    if args.tenant:
        body["tenant"] = args.tenant
    with Api(args.url) as api:
        signed = api.json("POST", "/session", json=body)
    path = save(
        Credentials(
            url=api.url,
            token=signed["token"],
            username=signed.get("user"),
            tenant=signed.get("tenant"),
            expires_at=signed.get("expires_at"),
        )
    )
    say(
        f"signed in to {api.url} as {signed.get('user')} ({signed.get('tenant')}) until "
        f"{signed.get('expires_at')}; the token is in {path}"
    )
    return 0


def run_logout(args: argparse.Namespace) -> int:
    try:
        credentials = resolve(getattr(args, "token", None), getattr(args, "url", None))
    except NotSignedIn:
        say("not signed in")
        return 0
    with Api.of(credentials) as api:
        try:
            api.request("DELETE", "/session")
        except ApiFailure as exc:
            if exc.http_status != 401:  # 401: the session had already ended
                raise
    stored = load()
    if stored is not None and stored.token == credentials.token:
        forget()
        say(f"signed out; removed {credentials_path()}")
    else:
        say("signed out")
    return 0
