"""Patients: search by name or phone through the blind indexes, a profile, and edits of phones and preferences.

Search never decrypts the table: a phone goes through its HMAC index, a name through the index of
its words, so only the patients found are decrypted. Every change is audited in the same
transaction that makes it; audit rows hold ids and field names, never the values.
"""

from __future__ import annotations

import re
from datetime import datetime

from flask import Blueprint, g, redirect, render_template, request, url_for

from appliance import phones
from appliance.errors import NotFound
from appliance.store import appointments, audit, call_history, patients
from appliance.store.appointments import UPCOMING
from appliance.store.patients import PHONE_KINDS, PREFERRED_TIMES, Patient
from appliance.web import web_context
from appliance.web.access import actor, audit_read, client_address, require_role
from appliance.web.views import common

bp = Blueprint("patients", __name__)
bp.record_once(lambda state: common.register_filters(state.app))

MAX_RESULTS = 50
PATIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
LANGUAGES = {"en": "English", "es": "Spanish", "fr": "French", "pt": "Portuguese", "zh": "Chinese",
             "vi": "Vietnamese", "ar": "Arabic", "de": "German", "pl": "Polish", "ko": "Korean"}
SAVED = {"phone-added": "Phone added.", "phone-removed": "Phone removed.", "phone-kind-changed": "Phone type changed.",
         "preferences-changed": "Preferences saved."}


@bp.get("/patients")
@require_role(*common.STAFF)
def index():
    """Search by name (whole words), phone number (any form) or patient id."""
    query = request.args.get("q", "").strip()[:100]
    if not query:
        return render_template("patients.html", query="", found=None)
    store, region = web_context().store(), phones.clinic_region(web_context().config)
    if re.fullmatch(r"[Pp]\d{1,9}", query):
        how, ids = "id", [query.upper()]
    elif sum(ch.isdigit() for ch in query) >= 7:
        how, e164 = "phone", phones.normalize(query, region)
        if e164 is None:
            message = (f"{common.echo(query)} is not a valid phone number here ({region}). "
                       "Type it with the area code, e.g. (217) 555-0125 or +1 217 555 0125.")
            return render_template("patients.html", query=query, found=None, error=message), 400
        ids = patients.ids_by_phone(store, e164)
    else:
        how, ids = "name", patients.ids_by_name(store, query)
    found = patients.get_many(store, ids[:MAX_RESULTS])
    if found:
        audit_read("patient-search", [p.patient_id for p in found], by=how)
    return render_template("patients.html", query=query, found=found, how=how, more=len(ids) > MAX_RESULTS)


def _patient(patient_id: str) -> Patient:
    if not PATIENT_ID.fullmatch(patient_id):
        common.refuse(404, f"There is no patient with id {common.echo(patient_id)}.")
    try:
        return patients.get(web_context().store(), patient_id)
    except NotFound:
        common.refuse(404, f"There is no patient with id {common.echo(patient_id)}.")


@bp.get("/patients/<patient_id>")
@require_role(*common.STAFF)
def profile(patient_id: str):
    """The patient's details, phones, preferences, upcoming and past appointments and recent calls."""
    return _profile(_patient(patient_id))


def _profile(patient: Patient, status: int = 200, errors: dict | None = None, form: dict | None = None):
    ctx = web_context()
    store, now = ctx.store(), common.local_now().replace(tzinfo=None)
    with store.read():
        booked = appointments.listing(store, patient_id=patient.patient_id)
        numbers = patients.phones_on_file(store, patient.patient_id)
        calls = call_history.of_patient(store, patient.patient_id)
    upcoming = [a for a in booked if a.status in UPCOMING and a.end > now]
    history = [a for a in reversed(booked) if a not in upcoming]
    audit_read("patient-viewed", patient.patient_id)
    return render_template(
        "patient.html", patient=patient, numbers=numbers, upcoming=upcoming, history=history, calls=calls,
        age=_age(patient, now), errors=errors or {}, form=form or {}, saved=SAVED.get(request.args.get("saved", "")),
        kinds=PHONE_KINDS, times=PREFERRED_TIMES, languages=LANGUAGES, config=ctx.config), status


def _age(patient: Patient, now: datetime) -> int | None:
    born = patient.date_of_birth
    if born is None:
        return None
    return now.year - born.year - ((now.month, now.day) < (born.month, born.day))


def _saved(patient: Patient, change: str, **detail):
    """Audit the change (in the open write transaction) and show the profile again (post/redirect/get)."""
    audit.record(web_context().store(), actor(g.user), f"patient-{change}", patient.patient_id, None,
                 address=client_address(), role=g.user.role, **detail)
    return redirect(url_for("patients.profile", patient_id=patient.patient_id, saved=change))


@bp.post("/patients/<patient_id>/phones")
@require_role(*common.STAFF)
def add_phone(patient_id: str):
    """Add a number (any common form, checked for the clinic's country) so caller ID finds the patient."""
    patient, ctx = _patient(patient_id), web_context()
    raw, kind = request.form.get("number", "").strip()[:40], request.form.get("kind", "")
    region = phones.clinic_region(ctx.config)
    e164 = phones.normalize(raw, region)
    store = ctx.store()
    problem = None
    if kind not in PHONE_KINDS:
        problem = f"Choose the phone type: {', '.join(PHONE_KINDS)}."
    elif e164 is None:
        problem = (f"{common.echo(raw)} is not a valid phone number here ({region}). "
                   "Type it with the area code, e.g. (217) 555-0125.")
    elif patient.patient_id in patients.ids_by_phone(store, e164):
        problem = "That number is already on file for this patient."
    if problem:
        return _profile(patient, 400, errors={"phone": problem}, form={"number": raw, "kind": kind})
    with store.write():
        patients.add_phone(store, patient.patient_id, patients.Phone(e164, kind))
        return _saved(patient, "phone-added", kind=kind)


def _phone_change(patient_id: str, change):
    """Run one change to a phone on file in a write transaction; a phone that is not this patient's is a 404."""
    patient, store = _patient(patient_id), web_context().store()
    try:
        with store.write():
            return change(patient, store)
    except NotFound:
        common.refuse(404, f"Patient {patient.patient_id} has no such phone (it may have been removed already).")


@bp.post("/patients/<patient_id>/phones/<int:phone_id>/remove")
@require_role(*common.STAFF)
def remove_phone(patient_id: str, phone_id: int):
    """Remove one number; caller ID stops matching it at once."""
    def change(patient, store):
        patients.remove_phone(store, patient.patient_id, phone_id)
        return _saved(patient, "phone-removed", phone_id=phone_id)

    return _phone_change(patient_id, change)


@bp.post("/patients/<patient_id>/phones/<int:phone_id>/kind")
@require_role(*common.STAFF)
def phone_kind(patient_id: str, phone_id: int):
    """Mark a number as home, mobile or work."""
    kind = request.form.get("kind", "")
    if kind not in PHONE_KINDS:
        common.refuse(400, f"Phone type must be one of {', '.join(PHONE_KINDS)}, got {common.echo(kind)}.")

    def change(patient, store):
        patients.set_phone_kind(store, patient.patient_id, phone_id, kind)
        return _saved(patient, "phone-kind-changed", phone_id=phone_id, kind=kind)

    return _phone_change(patient_id, change)


@bp.post("/patients/<patient_id>/preferences")
@require_role(*common.STAFF)
def preferences(patient_id: str):
    """Save the preferred name, language, provider, time of day and location."""
    patient, ctx = _patient(patient_id), web_context()
    config, form = ctx.config, {k: request.form.get(k, "").strip() for k in (
        "preferred_name", "language", "preferred_provider", "preferred_time", "preferred_location")}
    problem = None
    if len(form["preferred_name"]) > 60:
        problem = "The preferred name can have at most 60 characters."
    elif form["language"] not in config.clinic.languages:
        problem = f"Language must be one the clinic speaks: {', '.join(config.clinic.languages)}."
    elif form["preferred_provider"] and form["preferred_provider"] not in {p.id for p in config.providers}:
        problem = "Choose a provider from the list."
    elif form["preferred_time"] not in PREFERRED_TIMES:
        problem = "Choose a time of day from the list."
    elif form["preferred_location"] and form["preferred_location"] not in {x.id for x in config.locations}:
        problem = "Choose a location from the list."
    if problem:
        return _profile(patient, 400, errors={"preferences": problem}, form=form)
    changes = {k: (v or None) if k in ("preferred_name", "preferred_provider", "preferred_location") else v
               for k, v in form.items()}
    changed = sorted(k for k, v in changes.items() if getattr(patient, k) != v)
    store = ctx.store()
    with store.write():
        patients.set_preferences(store, patient, **changes)
        return _saved(patient, "preferences-changed", fields=changed)
