"""Append-only, hash-chained audit log: who did what to which patient, never the PHI itself.

Each row's `hash` is HMAC-SHA256 (keyed from the master secret) over the previous row's hash and
this row's fields, so altering, inserting or deleting a row behind the app's back breaks the
chain from that row on; triggers refuse UPDATE and DELETE outright.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from appliance.store.db import Store, utc_now

GENESIS = "0" * 64


def _body(seq: int, at: str, actor: str, action: str, patient_id, subject, detail: str) -> str:
    return json.dumps([seq, at, actor, action, patient_id, subject, detail], separators=(",", ":"))


def record(store: Store, actor: str, action: str, patient_id: str | None = None,
           subject: str | None = None, **detail) -> int:
    """Append one audit row inside the caller's write transaction; returns its sequence number.

    `detail` must hold ids and codes only: the audit log is not encrypted.
    """
    if not store.conn.in_transaction:
        raise RuntimeError("audit.record must run inside store.write()")
    last = store.conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
    at = utc_now()
    detail_text = json.dumps(detail, sort_keys=True, separators=(",", ":"))
    digest = store.vault.audit_mac(prev, _body(seq, at, actor, action, patient_id, subject, detail_text))
    store.conn.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (seq, at, actor, action, patient_id, subject, detail_text, prev, digest))
    return seq


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify(store: Store) -> ChainReport:
    """Walk the whole chain; the first row that does not verify is reported."""
    prev, expected_seq, rows = GENESIS, 1, 0
    for r in store.conn.execute("SELECT * FROM audit_log ORDER BY seq"):
        rows += 1
        if r["seq"] != expected_seq:
            return ChainReport(False, rows, r["seq"], f"row {expected_seq} is missing")
        if r["prev_hash"] != prev:
            return ChainReport(False, rows, r["seq"], "does not link to the row before it")
        body = _body(r["seq"], r["at"], r["actor"], r["action"], r["patient_id"], r["subject"], r["detail"])
        if store.vault.audit_mac(prev, body) != r["hash"]:
            return ChainReport(False, rows, r["seq"], "was altered after it was written")
        prev, expected_seq = r["hash"], expected_seq + 1
    return ChainReport(True, rows)


@dataclass(frozen=True)
class Filter:
    """Which audit rows a manager asked for; `since`/`until` are UTC text bounds [since, until)."""

    actors: tuple[str, ...] = ()
    patient_id: str | None = None
    action: str | None = None
    since: str | None = None
    until: str | None = None

    def where(self) -> tuple[str, list]:
        clauses, args = [], []
        if self.actors:
            clauses.append(f"actor IN ({', '.join('?' * len(self.actors))})"), args.extend(self.actors)
        for column, value, op in (("patient_id", self.patient_id, "="), ("action", self.action, "="),
                                  ("at", self.since, ">="), ("at", self.until, "<")):
            if value:
                clauses.append(f"{column} {op} ?"), args.append(value)
        return " AND ".join(clauses) or "1", args


def rows(store: Store, wanted: Filter, *, before: int | None = None, limit: int | None = None,
         newest_first: bool = True):
    """Matching rows (sqlite3.Row) newest first; `before` continues a page after that sequence number."""
    clause, args = wanted.where()
    if before:
        clause, args = f"{clause} AND seq < ?", [*args, before]
    order = "DESC" if newest_first else "ASC"
    sql = (f"SELECT seq, at, actor, action, patient_id, subject, detail FROM audit_log WHERE {clause} "
           f"ORDER BY seq {order}")
    if limit:
        sql, args = sql + " LIMIT ?", [*args, limit]
    return store.conn.execute(sql, args)
