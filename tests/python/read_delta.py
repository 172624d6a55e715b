#!/usr/bin/env python3
"""Print a Delta table as JSON lines: an independent reader for Tidemill's tests.

    read_delta.py TABLE                      one JSON object per row
    read_delta.py TABLE --order-by id,ts     rows sorted by these columns
    read_delta.py TABLE --summary            one JSON object: version, rows, files, txn, columns
    read_delta.py TABLE --engine log         read without delta-rs (see below)
    read_delta.py TABLE --as-of-version 3    the table as of version 3

TABLE is a folder or an s3://bucket/prefix URL; an S3 table is read through the
store named by the standard AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_REGION variables (pyarrow's S3 filesystem for the
log engine, deltalake's own client for the other).

Two engines read the table:

  deltalake  (default) the `deltalake` Python package (delta-rs' Python binding,
             a different release from the Rust writer's).
  log        a from-scratch reader of the Delta protocol: it replays _delta_log
             (the newest Parquet checkpoint, then the JSON commits) and reads the
             live Parquet files with pyarrow. It shares no code with delta-rs.

Values are printed so that a test can compare them with an oracle exactly:
timestamps as RFC 3339 with microseconds (`2026-01-02T03:04:05.000006Z` for UTC
`timestamp`, no `Z` for `timestamp_ntz`), dates as `YYYY-MM-DD`, binary as
standard base64, decimals as strings, NaN and infinities as the strings `NaN`,
`Infinity`, `-Infinity`. Keys follow the table's column order.

The summary is {"engine", "version", "rows", "files", "txn": {app_id: version},
"columns": [[name, delta_type, nullable], ...]}.

Exit status: 0 on success, 2 when TABLE is not a Delta table, 1 on other errors.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import decimal
import json
import math
import os
import re
import sys
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

COMMIT_RE = re.compile(r"^(\d{20})\.json$")
CHECKPOINT_RE = re.compile(r"^(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10}))?\.parquet$")
SUPPORTED_READER_FEATURES = {"timestampNtz"}


class NotATable(Exception):
    """TABLE has no Delta log."""


# ---------------------------------------------------------------- storage


def _is_s3(table: str) -> bool:
    return table.startswith(("s3://", "s3a://"))


def _s3_settings() -> dict[str, str]:
    names = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ALLOW_HTTP")
    return {name: os.environ[name] for name in names if name in os.environ}


class Storage:
    """The files of one table, on the local disk or an S3-compatible store."""

    def __init__(self, table: str) -> None:
        if _is_s3(table):
            settings = _s3_settings()
            endpoint = urlparse(settings.get("AWS_ENDPOINT_URL", ""))
            self.fs = pafs.S3FileSystem(
                access_key=settings.get("AWS_ACCESS_KEY_ID"),
                secret_key=settings.get("AWS_SECRET_ACCESS_KEY"),
                region=settings.get("AWS_REGION", "us-east-1"),
                endpoint_override=endpoint.netloc or None,
                scheme=endpoint.scheme or "https",
            )
            self.root = table.split("://", 1)[1].rstrip("/")
        else:
            self.fs = pafs.LocalFileSystem()
            self.root = os.path.abspath(table)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def is_dir(self, path: str) -> bool:
        return self.fs.get_file_info(path).type == pafs.FileType.Directory

    def names(self, path: str) -> list[str]:
        return [info.base_name for info in self.fs.get_file_info(pafs.FileSelector(path))]

    def lines(self, path: str) -> list[str]:
        with self.fs.open_input_stream(path) as f:
            return f.read().decode("utf-8").splitlines()

    def parquet(self, path: str) -> pa.Table:
        return pq.read_table(path, filesystem=self.fs)


# ---------------------------------------------------------------- log replay


class LogState:
    """The table state after replaying the log up to `version`."""

    def __init__(self) -> None:
        self.version = -1
        self.adds: dict[str, dict] = {}
        self.txn: dict[str, int] = {}
        self.metadata: dict | None = None
        self.protocol: dict | None = None

    def apply(self, action: dict) -> None:
        if action.get("add") is not None:
            add = action["add"]
            self.adds[add["path"]] = add
        elif action.get("remove") is not None:
            self.adds.pop(action["remove"]["path"], None)
        elif action.get("txn") is not None:
            txn = action["txn"]
            self.txn[txn["appId"]] = int(txn["version"])
        elif action.get("metaData") is not None:
            self.metadata = action["metaData"]
        elif action.get("protocol") is not None:
            self.protocol = action["protocol"]


def _map_to_dict(value):
    """pyarrow returns Parquet maps as lists of (key, value) pairs."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    return {k: v for k, v in value}


def _checkpoint_actions(storage: Storage, files: list[str]):
    for name in sorted(files):
        table = storage.parquet(storage.path("_delta_log", name))
        for row in table.to_pylist():
            action = {k: v for k, v in row.items() if v is not None}
            for kind in ("add", "remove"):
                if kind in action:
                    action[kind]["partitionValues"] = _map_to_dict(action[kind].get("partitionValues"))
            if "metaData" in action:
                action["metaData"]["configuration"] = _map_to_dict(action["metaData"].get("configuration"))
            yield action


def _checkpoint_complete(files: list[str]) -> bool:
    """A classic checkpoint is one file; a multi-part one needs all of its parts."""
    parts = [CHECKPOINT_RE.match(f) for f in files]
    if len(parts) == 1 and parts[0].group(3) is None:
        return True
    return all(p.group(3) is not None and int(p.group(3)) == len(files) for p in parts)


def replay_log(table: str, as_of: int | None = None) -> LogState:
    storage = Storage(table)
    log_dir = storage.path("_delta_log")
    if not storage.is_dir(log_dir):
        raise NotATable(f"{table}: no _delta_log folder")
    names = storage.names(log_dir)
    commits = sorted(int(m.group(1)) for m in map(COMMIT_RE.match, names) if m)
    checkpoints: dict[int, list[str]] = {}
    for name in names:
        m = CHECKPOINT_RE.match(name)
        if m:
            checkpoints.setdefault(int(m.group(1)), []).append(name)
    complete = {v: files for v, files in checkpoints.items() if _checkpoint_complete(files)}
    state = LogState()
    usable = [v for v in complete if as_of is None or v <= as_of]
    start = 0
    if usable:
        version = max(usable)
        for action in _checkpoint_actions(storage, complete[version]):
            state.apply(action)
        state.version = version
        start = version + 1
    wanted = [v for v in commits if v >= start and (as_of is None or v <= as_of)]
    if not wanted and state.version < 0:
        raise NotATable(f"{table}: _delta_log has no commits" + (f" up to version {as_of}" if as_of is not None else ""))
    for expected, version in enumerate(wanted, start=start):
        if version != expected:
            raise RuntimeError(f"{table}: _delta_log is missing commit {expected}")
        for line in storage.lines(storage.path("_delta_log", f"{version:020d}.json")):
            if line.strip():
                state.apply(json.loads(line))
        state.version = version
    if as_of is not None and state.version != as_of:
        raise RuntimeError(f"{table}: version {as_of} does not exist (latest {state.version})")
    return state


def _delta_type_to_arrow(t):
    if isinstance(t, str):
        simple = {
            "string": pa.string(),
            "long": pa.int64(),
            "integer": pa.int32(),
            "short": pa.int16(),
            "byte": pa.int8(),
            "float": pa.float32(),
            "double": pa.float64(),
            "boolean": pa.bool_(),
            "binary": pa.binary(),
            "date": pa.date32(),
            "timestamp": pa.timestamp("us", tz="UTC"),
            "timestamp_ntz": pa.timestamp("us"),
        }
        if t in simple:
            return simple[t]
        m = re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", t)
        if m:
            return pa.decimal128(int(m.group(1)), int(m.group(2)))
        raise RuntimeError(f"unsupported Delta type {t!r}")
    kind = t["type"]
    if kind == "struct":
        return pa.struct([_delta_field_to_arrow(f) for f in t["fields"]])
    if kind == "array":
        return pa.list_(pa.field("element", _delta_type_to_arrow(t["elementType"]), t.get("containsNull", True)))
    if kind == "map":
        return pa.map_(_delta_type_to_arrow(t["keyType"]), _delta_type_to_arrow(t["valueType"]))
    raise RuntimeError(f"unsupported Delta type {t!r}")


def _delta_field_to_arrow(f: dict) -> pa.Field:
    return pa.field(f["name"], _delta_type_to_arrow(f["type"]), f.get("nullable", True))


def _delta_type_name(t) -> str:
    return t if isinstance(t, str) else t["type"]


def _file_location(storage: Storage, path: str) -> str:
    parsed = urlparse(path)
    if parsed.scheme == "file" and isinstance(storage.fs, pafs.LocalFileSystem):
        return unquote(parsed.path)
    if parsed.scheme:
        raise RuntimeError(f"cannot read data file {path}: absolute file URIs are not supported")
    return storage.path(unquote(path))


def _check_readable(state: LogState) -> None:
    protocol = state.protocol or {}
    features = set(protocol.get("readerFeatures") or [])
    if features - SUPPORTED_READER_FEATURES:
        raise RuntimeError(f"unsupported reader features {sorted(features - SUPPORTED_READER_FEATURES)}")
    config = (state.metadata or {}).get("configuration") or {}
    if config.get("delta.columnMapping.mode", "none") != "none":
        raise RuntimeError("column mapping is not supported")
    for add in state.adds.values():
        if add.get("deletionVector"):
            raise RuntimeError(f"deletion vectors are not supported ({add['path']})")


def log_table(table: str, as_of: int | None) -> tuple[pa.Table, LogState, list]:
    state = replay_log(table, as_of)
    if state.metadata is None:
        raise RuntimeError(f"{table}: the log has no metaData action")
    _check_readable(state)
    delta_fields = json.loads(state.metadata["schemaString"])["fields"]
    schema = pa.schema([_delta_field_to_arrow(f) for f in delta_fields])
    partition_columns = set(state.metadata.get("partitionColumns") or [])
    pieces = []
    storage = Storage(table)
    for path in sorted(state.adds):
        add = state.adds[path]
        data = storage.parquet(_file_location(storage, path))
        columns = []
        for field in schema:
            if field.name in data.column_names:
                columns.append(data.column(field.name).cast(field.type))
            elif field.name in partition_columns:
                raw = add.get("partitionValues", {}).get(field.name)
                columns.append(pa.array([raw] * data.num_rows, pa.string()).cast(field.type))
            else:
                columns.append(pa.nulls(data.num_rows, field.type))
        pieces.append(pa.Table.from_arrays(columns, schema=schema))
    result = pa.concat_tables(pieces) if pieces else schema.empty_table()
    columns = [[f["name"], _delta_type_name(f["type"]), f.get("nullable", True)] for f in delta_fields]
    return result, state, columns


# ---------------------------------------------------------------- deltalake engine


def deltalake_table(table: str, as_of: int | None):
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        options = _s3_settings() if _is_s3(table) else None
        dtable = DeltaTable(table, version=as_of, storage_options=options)
    except TableNotFoundError as e:
        raise NotATable(f"{table}: {e}") from e
    columns = []
    for field in dtable.schema().fields:
        kind = getattr(field.type, "type", None) or json.loads(field.type.to_json()).get("type")
        columns.append([field.name, kind, field.nullable])
    return dtable, dtable.to_pyarrow_table(), columns


# ---------------------------------------------------------------- JSON output


def _format_timestamp(value: dt.datetime, with_zone: bool) -> str:
    if with_zone:
        value = value.astimezone(dt.timezone.utc)
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )
    return text + ("Z" if with_zone else "")


def to_json_value(value, t: pa.DataType):
    if value is None:
        return None
    if pa.types.is_timestamp(t):
        return _format_timestamp(value, t.tz is not None)
    if pa.types.is_date(t) or pa.types.is_time(t):
        return value.isoformat()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return base64.b64encode(value).decode("ascii")
    if pa.types.is_decimal(t) or isinstance(value, decimal.Decimal):
        return str(value)
    if pa.types.is_floating(t):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if pa.types.is_struct(t):
        return {t.field(i).name: to_json_value(value.get(t.field(i).name), t.field(i).type) for i in range(t.num_fields)}
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return [to_json_value(v, t.value_type) for v in value]
    if pa.types.is_map(t):
        return [[to_json_value(k, t.key_type), to_json_value(v, t.item_type)] for k, v in value]
    return value


def print_rows(table: pa.Table, order_by: list[str]) -> None:
    if order_by:
        missing = [c for c in order_by if c not in table.column_names]
        if missing:
            raise RuntimeError(f"--order-by: no column {missing}; columns are {table.column_names}")
        table = table.sort_by([(c, "ascending") for c in order_by])
    types = {f.name: f.type for f in table.schema}
    out = sys.stdout
    for batch in table.to_batches():
        for row in batch.to_pylist():
            obj = {name: to_json_value(value, types[name]) for name, value in row.items()}
            out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False))
            out.write("\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", help="path of the Delta table folder, or its s3:// URL")
    parser.add_argument("--summary", action="store_true", help="print version, row count, files, txn versions, columns")
    parser.add_argument("--engine", choices=["deltalake", "log"], default="deltalake")
    parser.add_argument("--order-by", default="", help="comma-separated columns to sort rows by")
    parser.add_argument("--as-of-version", type=int, default=None, help="read this table version")
    args = parser.parse_args(argv)
    table_path = args.table if _is_s3(args.table) else os.path.abspath(args.table)
    try:
        if args.engine == "log":
            data, state, columns = log_table(table_path, args.as_of_version)
            version, files, txn = state.version, len(state.adds), dict(sorted(state.txn.items()))
        else:
            dtable, data, columns = deltalake_table(table_path, args.as_of_version)
            version, files = dtable.version(), len(dtable.file_uris())
            # The Python API looks txn versions up by app id but cannot list app ids:
            # take the ids from the log, the versions from the API.
            app_ids = sorted(replay_log(table_path, version).txn)
            txn = {app_id: dtable.transaction_version(app_id) for app_id in app_ids}
        if args.summary:
            summary = {
                "engine": args.engine,
                "version": version,
                "rows": data.num_rows,
                "files": files,
                "txn": txn,
                "columns": columns,
            }
            print(json.dumps(summary, separators=(",", ":")))
        else:
            print_rows(data, [c for c in args.order_by.split(",") if c])
    except NotATable as e:
        print(f"read_delta: not a Delta table: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a CLI: say what went wrong, exit non-zero
        print(f"read_delta: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalisation: with deltalake (Rust threads) and pyarrow (C++
    # thread pools) both loaded, their teardown at exit occasionally aborts with
    # "terminate called without an active exception" (delta-rs issue #2184) after
    # all output was written. Everything is flushed above, so exit right away.
    os._exit(status)
