"""The signed-in user's own settings: the screen pop's chime and desktop notification.

Kept per user in the store rather than in the browser's localStorage: front-desk computers are
shared, and a preference should follow the person, not the machine. The browser still asks its
own permission for notifications (static/settings.js asks when the box is ticked).
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from appliance.store import users
from appliance.web import web_context
from appliance.web.access import client_address

bp = Blueprint("settings", __name__)


@bp.app_context_processor
def screen_pop_preferences():
    """Every signed-in page tells static/screenpop.js whether to chime and notify."""
    user = g.get("user")
    if user is None:
        return {}
    return {"screen_pop": users.pop_preferences(web_context().store(), user)}


@bp.get("/settings")
def index():
    return render_template("settings.html", saved=request.args.get("saved") == "1",
                           front_desk=web_context().config.escalation.transfer_to)


@bp.post("/settings")
def save():
    users.set_pop_preferences(web_context().store(), g.user, sound=request.form.get("sound") == "on",
                              notify=request.form.get("notify") == "on", address=client_address())
    return redirect(url_for("settings.index", saved="1"))
