#!/usr/bin/env python3
"""Window latency of the order job from its Delta tables: for every window of
`order_aggregates`, the time from the moment it became closable to the moment
the Delta commit that added its rows became visible.

    latency_from_delta.py OUT --delay-ms 200 [--lateness-ms 0] [--margin-ms 100]
                          [--stop-ms EPOCH_MS] [--log JOB_LOG] [--label TEXT] [--header]

OUT is the job's --output folder (OUT/order_aggregates, OUT/orders). Needs only
pyarrow (the test venv of scripts/python-env has it).

Definitions (events produced live: event time = wall clock at production):

  closable  window_end + watermark delay + allowed lateness: the moment the
            watermark may pass the window's end (it reaches `end - 1 ms` once a
            partition has seen an event with time >= end + delay, on every
            partition).
  visible   when `_delta_log/NNN.json` of the version that added the window's
            rows appeared (the newest such version if the rows of one window were
            committed in several): the later of the file's mtime and the commit's
            `commitInfo.timestamp`, both lower bounds of that moment. delta-rs
            takes the timestamp (precise clock, ms resolution) when it prepares
            the commit, before the conflict check, serialising and writing, so it
            can be tens of ms early under load; it then writes a temporary file
            and links it into place (put-if-absent), so the file is readable
            microseconds after its last write, but Linux stamps the mtime with the
            coarse kernel clock, which lags by up to one timer tick (a few ms).
            Their difference is printed in the notes.
  latency   visible - closable.

Windows closable after the newest event time in `orders` minus --margin-ms were
never closed by the watermark (no later event arrived); they were emitted by the
final flush of the graceful stop and are left out (counted in the notes).
With --log (the job's stderr with `tidemill_runtime::actors::supervisor=info`),
each latency is split at the checkpoint barrier of the epoch that committed it:
`to barrier` = barrier injected - closable (watermark propagation, emitting and
the wait for the next barrier), `barrier to visible` = visible - barrier
injected (alignment, staging Parquet, manifest fsync, Delta commit).

Prints one Markdown table row (a header first with --header) on stdout and notes
on stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import sys
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

COMMIT_RE = re.compile(r"^(\d{20})\.json$")
LOG_TIME_RE = re.compile(r"^(\S+Z)\s")
COMMITTED_RE = re.compile(r"checkpoint committed.*?epoch=\D*(\d+).*?total_ms=(\d+)")
COMPLETE_RE = re.compile(r"checkpoint complete.*?duration_ms=(\d+)")
CONFLICT = "table updated during transaction"


def micros(column: pa.ChunkedArray) -> list[int]:
    """Timestamps (any unit) as integer microseconds since the epoch."""
    return column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()


def commits(table: str):
    """(version, mtime in µs, commitInfo.timestamp in ms, txn versions, added paths) of each JSON commit."""
    log = os.path.join(table, "_delta_log")
    for name in sorted(os.listdir(log)):
        m = COMMIT_RE.match(name)
        if not m:
            continue
        path = os.path.join(log, name)
        mtime_us = os.stat(path).st_mtime_ns // 1000
        info_ms, txns, adds = None, [], []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                action = json.loads(line)
                if "commitInfo" in action:
                    info_ms = action["commitInfo"].get("timestamp")
                elif "txn" in action:
                    txns.append(int(action["txn"]["version"]))
                elif "add" in action:
                    adds.append(os.path.join(table, unquote(action["add"]["path"])))
        yield int(m.group(1)), mtime_us, info_ms, txns, adds


def newest_event_time_us(table: str) -> int:
    newest = None
    for _, _, _, _, adds in commits(table):
        for path in adds:
            values = [v for v in micros(pq.read_table(path, columns=["event_time"]).column("event_time")) if v is not None]
            if values:
                newest = max(newest or values[0], max(values))
    if newest is None:
        sys.exit(f"{table}: no rows")
    return newest


def checkpoint_log(log_path: str):
    """From the job's log: epoch -> wall time (µs) the barrier was injected (the
    `checkpoint committed` line's time minus its total_ms, both from the job's own
    clock); the total_ms values; the alignment times (`checkpoint complete`
    duration_ms); and how many Delta commits had to check for conflicts."""
    out, totals, alignments, conflicts = {}, [], [], 0
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            conflicts += CONFLICT in line
            c = COMPLETE_RE.search(line)
            if c:
                alignments.append(int(c.group(1)))
            m = COMMITTED_RE.search(line)
            t = LOG_TIME_RE.match(line)
            if not (m and t):
                continue
            at = dt.datetime.fromisoformat(t.group(1).replace("Z", "+00:00"))
            at_us = int(at.timestamp()) * 1_000_000 + at.microsecond
            out[int(m.group(1))] = at_us - int(m.group(2)) * 1000
            totals.append(int(m.group(2)))
    return out, sorted(totals), sorted(alignments), conflicts


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    if not values:
        return float("nan")
    rank = min(len(values), max(1, math.ceil(q * len(values) - 1e-9)))
    return values[rank - 1]


def fmt_ms(v: float) -> str:
    return "–" if v != v else f"{v:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--delay-ms", type=int, required=True, help="the job's --watermark-delay")
    ap.add_argument("--lateness-ms", type=int, default=0, help="the job's --allowed-lateness")
    ap.add_argument("--margin-ms", type=int, default=100, help="windows closable later than the newest event time minus this are left out (use at least the producer's --jitter)")
    ap.add_argument("--stop-ms", type=int, help="wall time of the SIGTERM, epoch ms (to flag windows visible only after it)")
    ap.add_argument("--log", help="the job's log, for the barrier split")
    ap.add_argument("--label", default="")
    ap.add_argument("--header", action="store_true")
    args = ap.parse_args()

    aggregates = os.path.join(args.out, "order_aggregates")
    close_after_us = (args.delay_ms + args.lateness_ms) * 1000
    cutoff_us = newest_event_time_us(os.path.join(args.out, "orders")) - args.margin_ms * 1000
    barriers, totals, alignments, conflicts = checkpoint_log(args.log) if args.log else ({}, [], [], 0)

    # window (start, end) -> [closable, visible, epoch of that commit, rows]
    windows: dict[tuple[int, int], list] = {}
    info_lag_ms = []  # mtime - commitInfo.timestamp, per commit
    versions = 0
    split = set()  # windows whose rows are in more than one commit
    for version, mtime_us, info_ms, txns, adds in commits(aggregates):
        versions += 1
        visible_us = mtime_us
        if info_ms is not None:
            info_lag_ms.append((mtime_us - info_ms * 1000) / 1000)
            visible_us = max(mtime_us, info_ms * 1000)
        epoch = max(txns) if txns else None
        for path in adds:
            t = pq.read_table(path, columns=["window_start", "window_end"])
            for start, end in zip(micros(t.column("window_start")), micros(t.column("window_end"))):
                w = windows.get((start, end))
                if w is None:
                    windows[(start, end)] = w = [end + close_after_us, visible_us, epoch, 0]
                elif w[2] != epoch:
                    split.add((start, end))
                w[3] += 1
                if visible_us > w[1]:
                    w[1], w[2] = visible_us, epoch

    counted = {k: w for k, w in windows.items() if w[0] <= cutoff_us}
    flushed = len(windows) - len(counted)
    latency = sorted((w[1] - w[0]) / 1000 for w in counted.values())
    to_barrier = sorted((barriers[w[2]] - w[0]) / 1000 for w in counted.values() if w[2] in barriers)
    from_barrier = sorted((w[1] - barriers[w[2]]) / 1000 for w in counted.values() if w[2] in barriers)
    after_stop = sum(1 for w in counted.values() if args.stop_ms is not None and w[1] >= args.stop_ms * 1000)

    if args.header:
        print("| run | windows | p50 | p90 | p99 | max | to barrier p50 / p99 | barrier to visible p50 / p99 |")
        print("|---|---|---|---|---|---|---|---|")
    q = lambda v, p: fmt_ms(quantile(v, p))
    print(
        f"| {args.label} | {len(latency)} | {q(latency, .5)} ms | {q(latency, .9)} ms | {q(latency, .99)} ms "
        f"| {fmt_ms(latency[-1] if latency else float('nan'))} ms "
        f"| {q(to_barrier, .5)} / {q(to_barrier, .99)} ms | {q(from_barrier, .5)} / {q(from_barrier, .99)} ms |"
    )
    info_lag_ms.sort()
    rows = sum(w[3] for w in counted.values())
    notes = [
        f"{args.label}: {versions} commits of order_aggregates; {len(counted)} windows ({rows} rows) counted, "
        f"{flushed} closable after the cutoff (newest event time - {args.margin_ms} ms) left out as flushed by the stop; "
        f"{len(split & counted.keys())} counted windows had rows in two or more commits (the last one counts)",
        f"mtime of the log file - commitInfo.timestamp: p50 {q(info_lag_ms, .5)} ms, max {fmt_ms(info_lag_ms[-1] if info_lag_ms else float('nan'))} ms",
    ]
    if args.log:
        triggers = sorted(barriers.values())
        gaps = sorted((b - a) / 1000 for a, b in zip(triggers, triggers[1:]))
        notes += [
            f"barrier split for {len(to_barrier)} of {len(counted)} windows ({len(barriers)} committed epochs in the log)",
            f"checkpoints: barrier every {q(gaps, .5)} ms (p90 {q(gaps, .9)}, p99 {q(gaps, .99)}); alignment "
            f"p50 {q(alignments, .5)} / p99 {q(alignments, .99)} ms; barrier to every sink committed "
            f"p50 {q(totals, .5)} / p99 {q(totals, .99)} ms; {conflicts} Delta commits checked for conflicts",
        ]
    if after_stop:
        notes.append(f"WARNING: {after_stop} counted windows became visible only after the SIGTERM (stop came too early?)")
    for n in notes:
        print("  " + n, file=sys.stderr)


if __name__ == "__main__":
    main()
