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

# The tests' independent reader knows how to reach a table's files, locally or on S3.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from read_delta import COMMIT_RE, Storage  # noqa: E402


def stats(table: str) -> dict:
    storage = Storage(table)
    log = storage.path("_delta_log")
    commits = retries = epochs = 0
    sinks = set()
    for name in storage.names(log):
        if not COMMIT_RE.match(name):
            continue
        actions = [json.loads(line) for line in storage.lines(storage.path("_delta_log", name)) if line.strip()]
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
