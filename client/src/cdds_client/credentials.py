"""Where ``cdds login`` keeps the session: ``$XDG_CONFIG_HOME/cdds/credentials.json`` (default
``~/.config/cdds/``), the directory mode 0700 and the file 0600 (it holds a bearer token).

``--token`` / ``CDDS_TOKEN`` and ``--url`` / ``CDDS_URL`` override what is stored, so scripts
need no file at all.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from cdds_client.errors import Failure, NotSignedIn

__all__ = ["Credentials", "config_dir", "credentials_path", "forget", "load", "resolve", "save"]

TOKEN_VARIABLE = "CDDS_TOKEN"  # noqa: S105 - the name of a variable, not a secret
URL_VARIABLE = "CDDS_URL"


@dataclass(frozen=True)
class Credentials:
    """A gateway and a session token on it (``username``/``tenant``/``expires_at``: for humans)."""

    url: str
    token: str
    username: str | None = None
    tenant: str | None = None
    expires_at: str | None = None


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cdds"


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


def save(credentials: Credentials) -> Path:
    """Write the file atomically, never readable by others, not even for a moment."""
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)  # mkdir is masked by the umask, and leaves an existing one as it was
    path = credentials_path()
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(asdict(credentials), file, indent=2)
    os.replace(partial, path)
    return path


def load() -> Credentials | None:
    """The stored sign-in, or ``None``."""
    path = credentials_path()
    try:
        data = json.loads(path.read_text("utf-8"))
        return Credentials(**{k: data.get(k) for k in Credentials.__dataclass_fields__})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise Failure(f"cannot read {path} ({exc}): run cdds login URL again") from None


def forget() -> bool:
    """Remove the stored sign-in; whether there was one."""
    try:
        credentials_path().unlink()
    except FileNotFoundError:
        return False
    return True


def resolve(token: str | None = None, url: str | None = None) -> Credentials:
    """The token and URL to use: the options, then the environment, then the stored sign-in."""
    stored = load()
    token = token or os.environ.get(TOKEN_VARIABLE) or (stored.token if stored else None)
    url = url or os.environ.get(URL_VARIABLE) or (stored.url if stored else None)
    if not token:
        raise NotSignedIn()
    if not url:
        raise Failure(
            f"no gateway URL: give --url URL or set {URL_VARIABLE} (or run cdds login URL)"
        )
    if stored and stored.token == token:
        return stored if stored.url == url else Credentials(url, token)
    return Credentials(url, token)
