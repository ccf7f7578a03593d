"""The pages behind the navigation: each is a blueprint registered here, with its entry in NAV.

A page joins by adding its module to PAGES (a `bp` blueprint whose main view is `<name>.index`)
and its nav entry below; entries whose page does not exist yet show greyed out.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, g, request, url_for

from appliance.store.users import ROLES
from appliance.web.views import audit, calls, escalations, home, live_call, patients, settings, status, today

STAFF = ROLES  # everyone with an account
MANAGERS = ("manager", "admin")


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    roles: tuple[str, ...]


NAV = (
    NavItem("Today", "today.index", STAFF),
    NavItem("Calls", "calls.index", STAFF),
    NavItem("Patients", "patients.index", STAFF),
    NavItem("Escalations", "escalations.index", STAFF),
    NavItem("Status", "status.index", MANAGERS),  # for IT; the front desk has no use for it
    NavItem("Audit", "audit.index", MANAGERS),
)

PAGES = (home, today, calls, patients, escalations, status, audit, live_call, settings)


def nav_links() -> list[dict]:
    """The signed-in user's nav: label, url (None while the page is not built) and whether it is open."""
    from flask import current_app

    user = g.get("user")
    if user is None:
        return []
    links = []
    for item in NAV:
        if user.role not in item.roles:
            continue
        built = item.endpoint in current_app.view_functions
        links.append({"label": item.label, "url": url_for(item.endpoint) if built else None,
                      "current": built and (request.blueprint == item.endpoint.split(".")[0])})
    return links


def register(app: Flask) -> None:
    for page in PAGES:
        app.register_blueprint(page.bp)
    app.jinja_env.globals["nav_links"] = nav_links
