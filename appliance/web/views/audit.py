"""Audit: managers read and export the audit log, filtered by user, patient, action and dates.

The log holds ids and codes only, so neither the page nor the CSV shows PHI; both are audited
themselves (who looked at whose trail). Pages go back by sequence number rather than by offset,
so an older page costs the same as the newest one on a log of millions of rows.
"""

from __future__ import annotations

import csv
import io
import json
import re

from flask import Blueprint, Response, render_template, request, stream_with_context

from appliance.store import audit
from appliance.web import web_context
from appliance.web.access import audit_read, require_role
from appliance.web.views import common

bp = Blueprint("audit", __name__)
bp.record_once(lambda state: common.register_filters(state.app))

PAGE_ROWS = 50
FIELDS = ("user", "patient", "action", "from", "to")
TOKEN = re.compile(r"[A-Za-z0-9:._@-]{1,64}")
CSV_COLUMNS = ("seq", "at_utc", "at_local", "actor", "action", "patient_id", "subject", "detail")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these as formulas


def _wanted() -> tuple[audit.Filter, dict[str, str]]:
    """The filter from the query string, and the values to keep in the form and links."""
    asked = {k: request.args.get(k, "").strip() for k in FIELDS}
    for key in ("user", "patient", "action"):
        if asked[key] and not TOKEN.fullmatch(asked[key]):
            common.refuse(400, f"{key} may hold letters, digits and : . _ @ - only, got {common.echo(asked[key])}.")
    first, last = common.parse_day(asked["from"], "from"), common.parse_day(asked["to"], "to")
    if first and last and first > last:
        common.refuse(400, f"from ({first}) must be on or before to ({last}).")
    since = common.utc_span(first, first)[0] if first else None
    until = common.utc_span(last, last)[1] if last else None
    user = asked["user"]
    actors = ((user,) if ":" in user or user in ("brain", "web") else (user, f"web:{user}")) if user else ()
    wanted = audit.Filter(actors, asked["patient"] or None, asked["action"] or None, since, until)
    return wanted, {k: v for k, v in asked.items() if v}


@bp.get("/audit")
@require_role(*common.MANAGERS)
def index():
    """Newest first, PAGE_ROWS at a time; `?before=SEQ` continues further back."""
    wanted, asked = _wanted()
    before = request.args.get("before", "")
    if before and not before.isdigit():
        common.refuse(400, f"before must be a row number, got {common.echo(before)}.")
    store = web_context().store()
    audit_read("audit-viewed", None, **_as_detail(asked))
    found = [dict(r) | {"detail": json.loads(r["detail"])}
             for r in audit.rows(store, wanted, before=int(before or 0) or None, limit=PAGE_ROWS + 1)]
    older = found[PAGE_ROWS - 1]["seq"] if len(found) > PAGE_ROWS else None
    return render_template("audit.html", rows=found[:PAGE_ROWS], asked=asked, older=older, paged=bool(before))


@bp.get("/audit.csv")
@require_role(*common.MANAGERS)
def export():
    """Every matching row, oldest first, as CSV (streamed: the log can be large)."""
    wanted, asked = _wanted()
    store = web_context().store()
    audit_read("audit-exported", None, **_as_detail(asked))
    cursor = audit.rows(store, wanted, newest_first=False)

    def lines():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for r in cursor:
            writer.writerow([r["seq"], r["at"], common.local_datetime(r["at"]), *(
                _cell(r[k]) for k in ("actor", "action", "patient_id", "subject", "detail"))])
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0), buffer.truncate()
        yield buffer.getvalue()

    stamp = common.local_now().strftime("%Y%m%d-%H%M")
    return Response(stream_with_context(lines()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="dentra-audit-{stamp}.csv"'})


def _as_detail(asked: dict[str, str]) -> dict[str, str]:
    """The filters for the audit row of this read (prefixed: `user` is already who read it)."""
    return {f"filter_{k}": v for k, v in asked.items()}


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
