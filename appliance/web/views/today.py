"""Today: the day's schedule at each location, a column per provider, with day navigation."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import Blueprint, render_template, request

from appliance.store import appointments, patients
from appliance.store.appointments import HOLDING
from appliance.web import day_board, web_context
from appliance.web.access import audit_read, require_role
from appliance.web.views import common

bp = Blueprint("today", __name__)
bp.record_once(lambda state: common.register_filters(state.app))


@bp.get("/today")
@require_role(*common.STAFF)
def index():
    """The schedule of `?day=YYYY-MM-DD` (default: today in the clinic's time zone)."""
    ctx = web_context()
    config, store = ctx.config, ctx.store()
    today = common.local_today()
    day = common.parse_day(request.args.get("day")) or today
    midnight = datetime.combine(day, time.min)
    with store.read():
        booked = appointments.listing(store, start_from=midnight, until=midnight + timedelta(days=1))
        ids = sorted({a.patient_id for a in booked})
        people = {p.patient_id: p for p in patients.get_many(store, ids)}
    held = [a for a in booked if a.status in HOLDING]
    released = [a for a in booked if a.status not in HOLDING]  # cancelled or moved: the time is free again
    elsewhere = day_board.where_providers_work(held)
    boards = [board for location in config.locations
              if (board := day_board.build(config, location, day, held, elsewhere))]
    if ids:
        audit_read("schedule-viewed", ids, day=day.isoformat())
    return render_template("today.html", day=day, today=today, boards=boards, released=released, people=people,
                           previous=day - timedelta(days=1), following=day + timedelta(days=1),
                           holiday=day in config.calendar.holidays)
