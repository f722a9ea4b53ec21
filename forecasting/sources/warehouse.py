"""SQL on a Databricks SQL warehouse through databricks-sdk's Statement Execution API: submit, poll until
the statement ends, and read its result chunk by chunk (INLINE JSON_ARRAY chunks, or EXTERNAL_LINKS in
Arrow, fetched from cloud storage without our token). Errors are one line naming the table or query."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from forecasting.errors import SourceError
from forecasting.sources.credentials import redact

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED", "CLOSED")
INLINE, EXTERNAL_LINKS = "INLINE", "EXTERNAL_LINKS"


@dataclass
class Warehouse:
    """One SQL warehouse of one workspace. ``where`` names the table or query in every message."""

    client: object  # databricks.sdk.WorkspaceClient
    warehouse_id: str
    where: str = "databricks"
    poll_seconds: float = 1.0
    timeout_seconds: float = 3600.0

    def run(self, statement: str, parameters: list[dict] | None = None, disposition: str = INLINE):
        """Execute ``statement`` (with ``:name`` parameters: ``{"name", "value", "type"}``, a missing value
        is NULL) and wait for it to end; the SUCCEEDED response. A statement still running after
        ``timeout_seconds`` is canceled."""
        from databricks.sdk.service.sql import (
            Disposition,
            ExecuteStatementRequestOnWaitTimeout,
            Format,
            StatementParameterListItem,
        )

        items = [StatementParameterListItem(name=p["name"], value=None if p.get("value") is None else str(p["value"]),
                                            type=p.get("type")) for p in parameters or []]
        fmt = Format.ARROW_STREAM if disposition == EXTERNAL_LINKS else Format.JSON_ARRAY
        response = self._call(lambda: self.client.statement_execution.execute_statement(
            statement=statement, warehouse_id=self.warehouse_id, parameters=items or None, disposition=Disposition(disposition),
            format=fmt, wait_timeout="10s", on_wait_timeout=ExecuteStatementRequestOnWaitTimeout.CONTINUE))
        deadline, delay = time.monotonic() + self.timeout_seconds, 0.05
        while _state(response) not in TERMINAL:
            if time.monotonic() > deadline:
                self._call(lambda: self.client.statement_execution.cancel_execution(response.statement_id))
                raise SourceError(f"{self.where}: the statement did not finish within {self.timeout_seconds:.0f}s; canceled")
            delay = min(self.poll_seconds, delay * 2)  # quick statements answer quickly; long ones are polled every poll_seconds
            time.sleep(delay)
            response = self._call(lambda: self.client.statement_execution.get_statement(response.statement_id))
        state = _state(response)
        if state != "SUCCEEDED":
            error = getattr(response.status, "error", None)
            detail = getattr(error, "message", None) or state.lower()
            raise SourceError(f"{self.where}: {_one_line(detail)}")
        return response

    def frames(self, response) -> Iterator[pd.DataFrame]:
        """The result, one chunk at a time, every cell as the warehouse rendered it (JSON_ARRAY: text;
        Arrow: typed)."""
        manifest = response.manifest
        columns = [c.name for c in (manifest.schema.columns or [])] if manifest and manifest.schema else []
        result = response.result
        while result is not None:
            next_index = result.next_chunk_index
            if result.external_links:
                for link in result.external_links:
                    yield _download(link.external_link, columns, self.where)
                    next_index = link.next_chunk_index
            else:
                yield pd.DataFrame(result.data_array or [], columns=columns, dtype=object)
            if next_index is None:
                return
            result = self._call(lambda: self.client.statement_execution.get_statement_result_chunk_n(response.statement_id, next_index))

    def _call(self, request):
        """One API call; an answer refusing it (auth, permission, unknown warehouse) is one line."""
        from databricks.sdk.errors import DatabricksError

        try:
            return request()
        except DatabricksError as exc:
            raise SourceError(f"{self.where}: {type(exc).__name__}: {_one_line(str(exc))}") from None


def _state(response) -> str:
    state = getattr(getattr(response, "status", None), "state", None)
    return getattr(state, "value", str(state))


def _one_line(text: str) -> str:
    return redact(" ".join(str(text).split()))


def _download(url: str, columns: list[str], where: str) -> pd.DataFrame:
    """An external link is a presigned cloud-storage URL: fetched without the workspace token."""
    import requests

    try:
        answer = requests.get(url, timeout=300)
        answer.raise_for_status()
    except requests.RequestException as exc:
        raise SourceError(f"{where}: downloading a result chunk failed: {_one_line(str(exc).split('?')[0])}") from None
    content_type = answer.headers.get("Content-Type", "")
    if "json" in content_type:
        return pd.DataFrame(json.loads(answer.content), columns=columns, dtype=object)
    import pyarrow.ipc

    return pyarrow.ipc.open_stream(io.BytesIO(answer.content)).read_all().to_pandas()
