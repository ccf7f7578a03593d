"""The landing page after sign-in; the screen pop and today's overview will live here."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("views", __name__)


@bp.get("/")
def home():
    """Placeholder until the today/calls/escalations pages join; shows no patient data."""
    return render_template("home.html")
