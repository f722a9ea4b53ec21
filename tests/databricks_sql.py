"""The SQL Statement Execution API of tests/databricks_contract.py: statements run on an in-memory SQLite
database standing in for a SQL warehouse, answered the way we read the API
(https://docs.databricks.com/api/workspace/statementexecution): submit, then PENDING -> RUNNING ->
SUCCEEDED over ``polls`` GETs, a manifest and the first chunk, further chunks by index, as INLINE
JSON_ARRAY (every value a string or null) or EXTERNAL_LINKS to Arrow streams on a "presigned" URL that
refuses an Authorization header (as cloud storage does).

What we assume Databricks SQL accepts, translated for SQLite: three-part names (backticks or not),
``CREATE [OR REPLACE] TABLE … USING DELTA COMMENT '…'``, ``CREATE VIEW IF NOT EXISTS``, and
``INSERT INTO t REPLACE WHERE pred SELECT …`` as one atomic step that fails when a row misses the
predicate. Errors carry Databricks' error classes: ``[TABLE_OR_VIEW_NOT_FOUND]``,
``[INSUFFICIENT_PERMISSIONS]`` (tables in ``read_only``), ``[DELTA_REPLACE_WHERE_MISMATCH]``.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import sqlite3
import threading
import uuid

sqlite3.register_converter("DATE", lambda b: dt.date.fromisoformat(b.decode()[:10]))
sqlite3.register_converter("TIMESTAMP", lambda b: dt.datetime.fromisoformat(b.decode().replace("Z", "+00:00")))
sqlite3.register_converter("BOOLEAN", lambda b: b not in (b"0", b"false", b"False"))

_NAME = r"(?:`[^`]+`|[A-Za-z_][\w\-]*)"
_THREE_PART = re.compile(rf"({_NAME})\.({_NAME})\.({_NAME})")
_MODIFIES = re.compile(r"^\s*(?:INSERT\s+INTO|DELETE\s+FROM|DROP\s+TABLE(?:\s+IF\s+EXISTS)?|CREATE\s+OR\s+REPLACE\s+TABLE)\s+(\"[^\"]+\")", re.I)
_REPLACE = re.compile(r"^\s*INSERT\s+INTO\s+(\"[^\"]+\")\s+REPLACE\s+WHERE\s+(.+?)\s+(SELECT\s.+)$", re.I | re.S)


class StatementExecution:
    def __init__(self):
        self.db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None, detect_types=sqlite3.PARSE_DECLTYPES)
        self.lock = threading.Lock()
        self.warehouses = {"wh-contract"}
        self.statements: dict[str, dict] = {}
        self.polls = 2  # GETs a statement stays PENDING/RUNNING
        self.chunk_rows = 1000
        self.read_only: set[str] = set()  # catalog.schema.table names the token may read but not modify
        self.fail_polls = 0  # statement GETs answered 503 (then the statement is fine)
        self.executed: list[str] = []  # the statements as submitted

    # --- the API ------------------------------------------------------------------------------
    def route(self, method: str, path: str, body: dict, base: str, headers: dict):
        if method == "POST" and path == "/api/2.0/sql/statements":
            return self.submit(body, base)
        match = re.fullmatch(r"/api/2.0/sql/statements/([^/]+)(/cancel|/result/chunks/(\d+))?", path)
        if match:
            statement = self.statements.get(match.group(1))
            if statement is None:
                return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"statement {match.group(1)} not found"}
            if match.group(2) == "/cancel":
                statement["state"] = "CANCELED"
                return 200, {}
            if match.group(3) is not None:
                return 200, self.chunk(statement, int(match.group(3)), base)
            if self.fail_polls > 0:
                self.fail_polls -= 1
                return 503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "injected"}
            return 200, self.view(statement, base, poll=True)
        match = re.fullmatch(r"/external-results/([^/]+)/(\d+)", path.split("?")[0])
        if match:
            if any(k.lower() == "authorization" for k in headers):
                return 400, {"message": "Only one auth mechanism allowed"}  # a presigned URL with our token added
            statement = self.statements[match.group(1)]
            return 200, arrow_bytes(statement, int(match.group(2)), self.chunk_rows), {"Content-Type": "application/vnd.apache.arrow.stream"}
        return None

    def submit(self, body: dict, base: str):
        if body.get("warehouse_id") not in self.warehouses:
            return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"SQL warehouse {body.get('warehouse_id')} does not exist."}
        statement = {"id": uuid.uuid4().hex, "sql": body["statement"], "disposition": body.get("disposition", "INLINE"),
                     "format": body.get("format", "JSON_ARRAY"), "polls": 0, "state": "PENDING"}
        self.executed.append(body["statement"])
        with self.lock:
            statement.update(self.execute(body["statement"], body.get("parameters") or []))
        self.statements[statement["id"]] = statement
        if self.polls == 0:
            statement["state"] = "FAILED" if statement.get("error") else "SUCCEEDED"
        return 200, self.view(statement, base)

    def view(self, statement: dict, base: str, poll: bool = False) -> dict:
        if poll and statement["state"] in ("PENDING", "RUNNING"):
            statement["polls"] += 1
            statement["state"] = "RUNNING" if statement["polls"] < self.polls else ("FAILED" if statement.get("error") else "SUCCEEDED")
        answer = {"statement_id": statement["id"], "status": {"state": statement["state"]}}
        if statement["state"] == "FAILED":
            answer["status"]["error"] = statement["error"]
        if statement["state"] == "SUCCEEDED":
            rows, columns = statement["rows"], statement["columns"]
            chunks = max(1, -(-len(rows) // self.chunk_rows))
            answer["manifest"] = {"format": statement["format"], "total_row_count": len(rows), "total_chunk_count": chunks, "truncated": False,
                                  "schema": {"column_count": len(columns), "columns": [
                                      {"name": name, "position": i, "type_name": kind, "type_text": kind} for i, (name, kind) in enumerate(columns)]},
                                  "chunks": [self.chunk_info(statement, i) for i in range(chunks)]}
            answer["result"] = self.chunk(statement, 0, base)
        return answer

    def chunk_info(self, statement: dict, index: int) -> dict:
        start = index * self.chunk_rows
        return {"chunk_index": index, "row_offset": start, "row_count": len(statement["rows"][start:start + self.chunk_rows])}

    def chunk(self, statement: dict, index: int, base: str) -> dict:
        info = self.chunk_info(statement, index)
        chunks = max(1, -(-len(statement["rows"]) // self.chunk_rows))
        following = {"next_chunk_index": index + 1, "next_chunk_internal_link": f"/api/2.0/sql/statements/{statement['id']}/result/chunks/{index + 1}"} \
            if index + 1 < chunks else {}
        if statement["disposition"] == "EXTERNAL_LINKS":
            expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            link = {**info, **following, "byte_count": 0, "expiration": expires,
                    "external_link": f"{base}/external-results/{statement['id']}/{index}?X-Amz-Signature=contract"}
            return {"external_links": [link]}
        rows = statement["rows"][info["row_offset"]:info["row_offset"] + info["row_count"]]
        return {**info, **following, "data_array": [[rendered(v) for v in row] for row in rows]}

    # --- the warehouse --------------------------------------------------------------------------
    def execute(self, sql: str, parameters: list[dict]) -> dict:
        text = _THREE_PART.sub(lambda m: '"' + ".".join(p.strip("`") for p in m.groups()) + '"', sql.strip().rstrip(";"))
        text = re.sub(r"\s+USING\s+DELTA\b", "", text, flags=re.I)
        if re.match(r"^\s*CREATE\s", text, re.I):
            text = re.sub(r"\bSTRING\b", "TEXT", text)  # SQLite gives a column declared STRING numeric affinity
        text = re.sub(r"\s+COMMENT\s+'(?:[^']|'')*'\s*$", "", text, flags=re.I)
        values = {p["name"]: typed(p) for p in parameters}
        target = _MODIFIES.match(text)
        if target and target.group(1).strip('"') in self.read_only:
            name = ".".join(f"`{p}`" for p in target.group(1).strip('"').split("."))
            return failed("INSUFFICIENT_PERMISSIONS", f"[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have MODIFY on Table {name}.")
        try:
            replace = _REPLACE.match(text)
            if replace:
                return self.replace_where(*replace.groups(), values)
            if re.match(r"^\s*CREATE\s+OR\s+REPLACE\s+TABLE", text, re.I):
                name = re.match(r"^\s*CREATE\s+OR\s+REPLACE\s+TABLE\s+(\"[^\"]+\")", text, re.I).group(1)
                self.db.execute(f"DROP TABLE IF EXISTS {name}")
                text = re.sub(r"^\s*CREATE\s+OR\s+REPLACE\s+TABLE", "CREATE TABLE", text, flags=re.I)
            cursor = self.db.execute(text, values)
        except sqlite3.Error as exc:
            return sqlite_failure(exc)
        if cursor.description is None:
            return {"columns": [("num_affected_rows", "LONG")], "rows": [[cursor.rowcount]]}
        rows = [list(r) for r in cursor.fetchall()]
        return {"columns": [(d[0], type_name([r[i] for r in rows])) for i, d in enumerate(cursor.description)], "rows": rows}

    def replace_where(self, table: str, predicate: str, query: str, values: dict) -> dict:
        """Delta's atomic selective overwrite: the query's rows must all satisfy the predicate."""
        try:
            self.db.execute("BEGIN")
            misses = self.db.execute(f"SELECT COUNT(*) FROM ({query}) WHERE NOT ({predicate})", values).fetchone()[0]
            if misses:
                self.db.execute("ROLLBACK")
                return failed("DELTA_REPLACE_WHERE_MISMATCH", f"[DELTA_REPLACE_WHERE_MISMATCH] Written data does not conform to partial table "
                                                              f"overwrite condition or constraint '{predicate}'.")
            deleted = self.db.execute(f"DELETE FROM {table} WHERE {predicate}", values).rowcount
            inserted = self.db.execute(f"INSERT INTO {table} {query}", values).rowcount
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            return sqlite_failure(exc)
        return {"columns": [("num_affected_rows", "LONG"), ("num_inserted_rows", "LONG")], "rows": [[deleted + inserted, inserted]]}

    def query(self, sql: str) -> list[tuple]:
        """Rows of ``sql`` on the warehouse's database (catalog.schema.table written as "catalog.schema.table")."""
        with self.lock:
            return self.db.execute(sql).fetchall()


def failed(code: str, message: str) -> dict:
    return {"error": {"error_code": code, "message": message}}


def sqlite_failure(exc: sqlite3.Error) -> dict:
    missing = re.search(r"no such table: (\S+)", str(exc))
    if missing:
        name = ".".join(f"`{p}`" for p in missing.group(1).strip('"').split("."))
        return failed("TABLE_OR_VIEW_NOT_FOUND", f"[TABLE_OR_VIEW_NOT_FOUND] The table or view {name} cannot be found. SQLSTATE: 42P01")
    return failed("BAD_REQUEST", f"[PARSE_SYNTAX_ERROR] {exc}")


def typed(parameter: dict):
    value, kind = parameter.get("value"), (parameter.get("type") or "STRING").upper()
    if value is None:
        return None
    if kind in ("DOUBLE", "FLOAT", "DECIMAL"):
        return float(value)
    if kind in ("INT", "LONG", "BIGINT", "SMALLINT", "TINYINT"):
        return int(value)
    if kind == "BOOLEAN":
        return 1 if str(value).lower() == "true" else 0
    return str(value)


def type_name(values: list) -> str:
    present = next((v for v in values if v is not None), None)
    return {bool: "BOOLEAN", int: "LONG", float: "DOUBLE", dt.date: "DATE", dt.datetime: "TIMESTAMP"}.get(type(present), "STRING")


def rendered(value) -> str | None:
    """JSON_ARRAY: the string representation of every value, or null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def arrow_bytes(statement: dict, index: int, chunk_rows: int) -> bytes:
    """One chunk as an Arrow IPC stream, typed by the column types of the manifest."""
    import pyarrow as pa

    rows = statement["rows"][index * chunk_rows:(index + 1) * chunk_rows]
    types = {"BOOLEAN": pa.bool_(), "LONG": pa.int64(), "DOUBLE": pa.float64(), "DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us", tz="UTC"),
             "STRING": pa.string()}
    arrays = [pa.array([r[i] for r in rows], type=types[kind]) for i, (_, kind) in enumerate(statement["columns"])]
    table = pa.Table.from_arrays(arrays, names=[name for name, _ in statement["columns"]])
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


__all__ = ["StatementExecution"]
