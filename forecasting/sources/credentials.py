"""Credentials of SQL sources and forecast tables: never in a URL, a run parameter or a message. They
come from the environment (PostgreSQL's own PGPASSWORD / ~/.pgpass, or FORECAST_FLOWS_SQL_PASSWORD for any
database) or, in a Prefect run, from a credentials block the task layer loads into :class:`Credentials`."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

PASSWORD_ENV = "FORECAST_FLOWS_SQL_PASSWORD"
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@\s]*)@")


@dataclass(frozen=True)
class Credentials:
    """A user and password for a SQL URL; the password never shows in ``repr`` or ``str``."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls) -> "Credentials | None":
        """FORECAST_FLOWS_SQL_PASSWORD, when set (PostgreSQL drivers also read PGPASSWORD themselves)."""
        password = os.environ.get(PASSWORD_ENV)
        return cls(password=password) if password else None

    def secrets(self) -> list[str]:
        return [self.password] if self.password else []


def url_password(location: str) -> str | None:
    """The password written into a URL, if any."""
    match = _USERINFO.match(str(location).strip())
    return match.group("password") if match and match.group("password") else None


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """``text`` with every URL password shown as ``***`` and every known secret replaced."""
    out = _USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:***@", str(text))
    for secret in secrets:
        if secret:
            out = out.replace(secret, "***")
    return out


def connection_url(location: str, credentials: Credentials | None):
    """The SQLAlchemy URL to connect with: ``location`` plus the credentials' password (and user, when
    the URL names none); the environment's password when no credentials are given."""
    from sqlalchemy.engine import make_url

    url = make_url(location)
    credentials = credentials or Credentials.from_environment()
    if credentials is None:
        return url
    if credentials.username and not url.username:
        url = url.set(username=credentials.username)
    if credentials.password:
        url = url.set(password=credentials.password)
    return url
