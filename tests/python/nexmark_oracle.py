#!/usr/bin/env python3
"""Compare a Nexmark query's Delta table with the query's SQL run by DuckDB.

    nexmark_oracle.py QUERY EVENTS_DIR TABLE

EVENTS_DIR holds person.jsonl, auction.jsonl and bid.jsonl as written by
`nexmark --dump-events` (times in milliseconds since the Unix epoch), and for
q13 side_input.jsonl, the side table given to `--side-input`. TABLE is
the query's Delta table, read with the `deltalake` package. DuckDB runs the
query's SQL on the events, written for DuckDB from the Nexmark definitions:

  * window TVFs (HOP, TUMBLE, SESSION) DuckDB lacks are spelled out with integer
    arithmetic on the millisecond times and, for sessions, window functions;
  * windows are half-open [start, end), as Tidemill's are (q7's BETWEEN in the
    original SQL also takes a bid at exactly the end instant into the window);
  * the generator writes states in lower case, so q3 compares with 'or', 'id', 'ca'.

q4's table is a changelog (a row per category after each closed auction); its
newest row per category (the one counting the most auctions) is compared.

Timestamps on both sides are compared as epoch milliseconds and doubles rounded
to 6 decimals; rows are compared as multisets (EXCEPT ALL both ways). Prints one
JSON object {"query", "expected", "actual", "missing", "unexpected"} (the first
rows of each difference) and exits 1 if the two differ.
"""

import json
import sys

import duckdb
from deltalake import DeltaTable

SCHEMAS = {
    "person": "id BIGINT, name VARCHAR, email_address VARCHAR, credit_card VARCHAR, city VARCHAR, "
    "state VARCHAR, date_time BIGINT, extra VARCHAR",
    "auction": "id BIGINT, item_name VARCHAR, description VARCHAR, initial_bid BIGINT, reserve BIGINT, "
    "date_time BIGINT, expires BIGINT, seller BIGINT, category BIGINT, extra VARCHAR",
    "bid": "auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, date_time BIGINT, "
    "extra VARCHAR",
}

QUERIES = {
    "q0": "SELECT auction, bidder, price, channel, url, date_time, extra FROM bid",
    "q1": "SELECT auction, bidder, 0.908 * price AS price, date_time, extra FROM bid",
    "q2": "SELECT auction, price FROM bid WHERE auction % 123 = 0",
    "q3": """
        SELECT P.name, P.city, P.state, A.id
        FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
        WHERE A.category = 10 AND (P.state = 'or' OR P.state = 'id' OR P.state = 'ca')""",
    "q4": """
        WITH closed AS (
            SELECT A.id, A.category, max(B.price) AS final
            FROM auction AS A JOIN bid AS B
              ON A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires
            GROUP BY A.id, A.category)
        SELECT category, avg(final) AS avg_price FROM closed GROUP BY category""",
    # The last ten closed auctions per seller in the order they closed (then by
    # id): a running window of rows, one row per closed auction.
    "q6": """
        WITH closed AS (
            SELECT A.id, A.seller, A.expires, max(B.price) AS final
            FROM auction AS A JOIN bid AS B
              ON A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires
            GROUP BY A.id, A.seller, A.expires)
        SELECT seller, id AS auction, expires,
               avg(final) OVER w AS avg_price, count(*) OVER w AS auctions
        FROM closed
        WINDOW w AS (PARTITION BY seller ORDER BY expires, id ROWS BETWEEN 9 PRECEDING AND CURRENT ROW)""",
    # HOP(bid, date_time, 2 s slide, 10 s size): each bid is in the 5 windows
    # starting at the 2 s marks in (t - 10 s, t].
    "q5": """
        WITH hop AS (
            SELECT auction, (date_time // 2000) * 2000 - k * 2000 AS starttime
            FROM bid, range(0, 5) AS r(k)),
        auction_bids AS (
            SELECT auction, count(*) AS num, starttime FROM hop GROUP BY auction, starttime),
        max_bids AS (
            SELECT max(num) AS maxn, starttime FROM auction_bids GROUP BY starttime)
        SELECT A.auction, A.num, A.starttime AS window_start, A.starttime + 10000 AS window_end
        FROM auction_bids AS A JOIN max_bids AS M ON A.starttime = M.starttime AND A.num >= M.maxn""",
    "q7": """
        WITH b AS (SELECT *, (date_time // 10000) * 10000 + 10000 AS window_end FROM bid),
        max_price AS (SELECT max(price) AS maxprice, window_end FROM b GROUP BY window_end)
        SELECT B.auction, B.price, B.bidder, B.date_time, B.window_end
        FROM b AS B JOIN max_price AS M ON B.window_end = M.window_end AND B.price = M.maxprice""",
    "q8": """
        WITH P AS (SELECT id, name, (date_time // 10000) * 10000 AS starttime FROM person
                   GROUP BY id, name, starttime),
        A AS (SELECT seller, (date_time // 10000) * 10000 AS starttime FROM auction GROUP BY seller, starttime)
        SELECT P.id, P.name, P.starttime AS window_start
        FROM P JOIN A ON P.id = A.seller AND P.starttime = A.starttime""",
    # ROW_NUMBER's order made total with the bidder, as the job's is.
    "q9": """
        SELECT id, item_name, description, initial_bid, reserve, date_time, expires, seller, category,
               auction, bidder, price, bid_date_time
        FROM (
            SELECT A.id, A.item_name, A.description, A.initial_bid, A.reserve, A.date_time, A.expires,
                   A.seller, A.category, B.auction, B.bidder, B.price, B.date_time AS bid_date_time,
                   row_number() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.date_time, B.bidder) AS rownum
            FROM auction AS A JOIN bid AS B
              ON A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires)
        WHERE rownum <= 1""",
    "q13": """
        SELECT B.auction, B.bidder, B.price, B.date_time, S.value
        FROM bid AS B JOIN side_input AS S ON B.auction % 10000 = S.key""",
    # SESSION(bid, date_time, 10 s) per bidder: a bid 10 s or more after the
    # bidder's previous one starts a new session, which ends 10 s after its last bid.
    "q11": """
        WITH marked AS (
            SELECT bidder, date_time,
                   CASE WHEN date_time - lag(date_time) OVER (PARTITION BY bidder ORDER BY date_time) < 10000
                        THEN 0 ELSE 1 END AS starts_session
            FROM bid),
        numbered AS (
            SELECT bidder, date_time,
                   sum(starts_session) OVER (PARTITION BY bidder ORDER BY date_time
                                             ROWS UNBOUNDED PRECEDING) AS session
            FROM marked)
        SELECT bidder, count(*) AS bid_count, min(date_time) AS session_start,
               max(date_time) + 10000 AS session_end
        FROM numbered GROUP BY bidder, session""",
}


# How a query's table is read before the comparison (default: every row).
ACTUAL = {
    "q4": """SELECT category, avg_price FROM actual_arrow
             QUALIFY row_number() OVER (PARTITION BY category ORDER BY auctions DESC) = 1""",
}


def normalised(con, relation, name):
    """A view over `relation` with timestamps as epoch ms and doubles rounded."""
    columns = []
    for column, kind, *_ in con.execute(f"DESCRIBE {relation}").fetchall():
        quoted = f'"{column}"'
        if kind.startswith("TIMESTAMP"):
            columns.append(f"epoch_ms({quoted}) AS {quoted}")
        elif kind in ("DOUBLE", "FLOAT") or kind.startswith("DECIMAL"):
            columns.append(f"round(CAST({quoted} AS DOUBLE), 6) AS {quoted}")
        else:
            columns.append(quoted)
    con.execute(f"CREATE VIEW {name} AS SELECT {', '.join(columns)} FROM {relation}")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in QUERIES:
        sys.exit(f"usage: nexmark_oracle.py {{{','.join(QUERIES)}}} EVENTS_DIR TABLE")
    query, events, table = sys.argv[1:]
    con = duckdb.connect()
    for kind, schema in SCHEMAS.items():
        columns = ", ".join(f"'{c.split()[0]}': '{c.split()[1]}'" for c in schema.split(", "))
        con.execute(
            f"CREATE VIEW {kind} AS SELECT * FROM read_json('{events}/{kind}.jsonl', "
            f"format = 'newline_delimited', columns = {{{columns}}})"
        )
    side = f"{events}/side_input.jsonl"
    if query == "q13":
        con.execute(
            f"CREATE VIEW side_input AS SELECT * FROM read_json('{side}', format = 'newline_delimited', "
            "columns = {'key': 'BIGINT', 'value': 'VARCHAR'})"
        )
    con.execute(f"CREATE TABLE expected_raw AS {QUERIES[query]}")
    actual_arrow = DeltaTable(table).to_pyarrow_table()
    con.register("actual_arrow", actual_arrow)
    con.execute(f"CREATE TABLE actual_raw AS {ACTUAL.get(query, 'SELECT * FROM actual_arrow')}")
    normalised(con, "expected_raw", "expected")
    normalised(con, "actual_raw", "actual")
    expected_columns = [r[0] for r in con.execute("DESCRIBE expected").fetchall()]
    actual_columns = [r[0] for r in con.execute("DESCRIBE actual").fetchall()]
    if expected_columns != actual_columns:
        print(json.dumps({"query": query, "columns": {"expected": expected_columns, "actual": actual_columns}}))
        sys.exit(1)
    missing = con.execute("SELECT * FROM expected EXCEPT ALL SELECT * FROM actual").fetchall()
    unexpected = con.execute("SELECT * FROM actual EXCEPT ALL SELECT * FROM expected").fetchall()
    report = {
        "query": query,
        "expected": con.execute("SELECT count(*) FROM expected").fetchone()[0],
        "actual": con.execute("SELECT count(*) FROM actual").fetchone()[0],
        "missing": [list(map(str, r)) for r in missing[:5]],
        "missing_count": len(missing),
        "unexpected": [list(map(str, r)) for r in unexpected[:5]],
        "unexpected_count": len(unexpected),
    }
    print(json.dumps(report))
    sys.exit(1 if missing or unexpected else 0)


if __name__ == "__main__":
    main()
