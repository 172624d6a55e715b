#!/usr/bin/env python3
"""Commit statistics of Delta tables, read from their logs (local or s3://).

    delta_commit_stats.py TABLE...

Prints one JSON object per table: the number of append commits (versions with
a WRITE operation), the sum of their `operationMetrics.numRetries` (how often a
commit lost the race for a version, as delta-rs records it), and the number of
sink epochs they carried (txn actions whose app id has a lineage, `@...`) and
the number of sinks (distinct such app ids).
S3 tables are reached with the standard AWS_* variables.
"""

from __future__ import annotations

import json
import os
import sys
from urllib.parse import urlparse

import pyarrow.fs as pafs


def filesystem(table: str) -> tuple[pafs.FileSystem, str]:
    if table.startswith(("s3://", "s3a://")):
        endpoint = urlparse(os.environ.get("AWS_ENDPOINT_URL", ""))
        fs = pafs.S3FileSystem(
            access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
            region=os.environ.get("AWS_REGION", "us-east-1"),
            endpoint_override=endpoint.netloc or None,
            scheme=endpoint.scheme or "https",
        )
        return fs, table.split("://", 1)[1].rstrip("/")
    return pafs.LocalFileSystem(), os.path.abspath(table)


def stats(table: str) -> dict:
    fs, root = filesystem(table)
    log = f"{root}/_delta_log"
    commits = retries = epochs = 0
    sinks = set()
    for info in fs.get_file_info(pafs.FileSelector(log)):
        if not info.base_name.endswith(".json"):
            continue
        with fs.open_input_stream(info.path) as f:
            actions = [json.loads(line) for line in f.read().decode().splitlines() if line.strip()]
        commit_info = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
        if commit_info.get("operation") != "WRITE":
            continue
        commits += 1
        retries += int((commit_info.get("operationMetrics") or {}).get("numRetries", 0))
        ids = [a["txn"]["appId"] for a in actions if "txn" in a and "@" in a["txn"]["appId"]]
        epochs += len(ids)
        sinks.update(ids)
    return {"table": table, "commits": commits, "retries": retries, "epochs": epochs, "sinks": len(sinks)}


if __name__ == "__main__":
    for table in sys.argv[1:]:
        print(json.dumps(stats(table)))
