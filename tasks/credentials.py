"""SQL credentials in Prefect runs: a prefect-sqlalchemy ``SqlAlchemyConnector`` block, loaded inside the
task that connects, so the password is never a task or flow parameter, a log line or a result."""

from __future__ import annotations

from forecasting.errors import ConfigError
from forecasting.sources import Credentials


def sql_credentials(block_name: str | None) -> Credentials | None:
    """The user and password the block holds (None without a block: the environment's then apply)."""
    if not block_name:
        return None
    from prefect_sqlalchemy import SqlAlchemyConnector
    from sqlalchemy.engine import make_url

    try:
        block = SqlAlchemyConnector.load(block_name)
    except ValueError as exc:
        raise ConfigError(f"credentials block {block_name!r}: {str(exc).splitlines()[0]} (create a SqlAlchemyConnector block "
                          "with that name: docs/production.md)") from None
    info = block.connection_info
    if hasattr(info, "password"):  # ConnectionComponents: the password is a SecretStr
        password = info.password.get_secret_value() if info.password else None
        return Credentials(info.username, password)
    url = make_url(str(info))
    return Credentials(url.username, url.password)
