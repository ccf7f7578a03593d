"""The optional cloud fallback: one OpenAI-compatible chat completion per utterance, PHI replaced first.

Used only when the clinic set `[cloud_llm] enabled = true` and the local model is missing or unsure.
The caller's words and the context are redacted before they leave the box, the answer is constrained
to the interpretation schema, placeholders in its slots are restored, and every use is audited with
codes only. Any failure returns None with a code in `last_error`, so the flow offers the front desk.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace

from appliance.brain.interpretation import SCHEMA, SLOT_NAMES, TOPICS, Interpretation, from_model_json
from appliance.brain.redaction import Redactor
from appliance.config import CloudLlmSettings, Config
from appliance.errors import AppError
from appliance.store import audit
from appliance.store.db import Store

log = logging.getLogger(__name__)

# The endpoint reports no confidence; a schema-constrained answer ranks below the rules' certainty.
CLOUD_CONFIDENCE = 0.8
MAX_ANSWER_BYTES = 1 << 20
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

SYSTEM_PROMPT = f"""You read what a caller just said to the phone receptionist of a dental clinic and \
return JSON with the caller's intent and slots. You never answer the caller.
Intents: book (new appointment), reschedule (move one), cancel, appointment_info (asks when their \
appointment is), question (hours, address, prices, insurance, payment, parking, policies), emergency \
(pain with swelling, bleeding, trauma, trouble breathing or swallowing), transfer (wants a person), \
affirm (yes), deny (no), goodbye (nothing else), other.
Slots, only when said: {", ".join(SLOT_NAMES)}. topic is one of: {", ".join(TOPICS)}. Other slots copy \
the caller's words.
Personal details were replaced by placeholders such as [NAME_1], [PHONE_1], [DOB_1], [EMAIL_1]. When \
one fills a slot, copy the placeholder exactly; never guess what it stands for."""


class CloudLlmMisconfigured(AppError):
    """`[cloud_llm]` is enabled but cannot be used as configured (key, URL or CA file)."""

    code = "cloud-llm-misconfigured"
    exit_code = 2


class _Failure(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the API key (and the request) somewhere the clinic did not configure."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _tls_context(ca_file: str) -> ssl.SSLContext:
    """Certificate and host name checks always on: system CAs, plus the clinic's own CA when given."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as e:
            raise CloudLlmMisconfigured(f"cloud_llm.ca_file: cannot load {ca_file}: {e.strerror or e}") from None
    return context


def _network_code(error: BaseException | str | None) -> str:
    if isinstance(error, TimeoutError):
        return "cloud-timeout"
    if isinstance(error, ssl.SSLError):
        return "cloud-tls"
    return "cloud-unreachable"


class CloudModel:
    """An OpenAI-compatible endpoint behind the same `interpret` as the local model."""

    def __init__(self, settings: CloudLlmSettings, api_key: str | None):
        if not settings.enabled:
            raise CloudLlmMisconfigured("cloud_llm.enabled is false: nothing may be sent to a cloud model")
        if not api_key:
            raise CloudLlmMisconfigured(f"cloud_llm is enabled but no API key was given "
                                        f"(set the environment variable {settings.api_key_env})")
        url = urllib.parse.urlsplit(settings.base_url)
        if not url.hostname or not (url.scheme == "https" or (url.scheme == "http" and url.hostname in LOOPBACK)):
            raise CloudLlmMisconfigured("cloud_llm.base_url must be an https:// URL "
                                        f"(plain http only to 127.0.0.1 or localhost), got scheme {url.scheme!r}")
        self.settings = settings
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        self._key = api_key
        # no proxies from the environment and no redirects: the request goes where the config says, or nowhere
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=_tls_context(settings.ca_file)),
            _NoRedirects())
        self.last_error: str | None = None   # code of the last failure, None after a usable answer
        self.last_outcome: str | None = None  # "ok" or that code
        self.last_ms: int | None = None

    @classmethod
    def from_config(cls, config: Config) -> CloudModel | None:
        """The cloud model when `[cloud_llm]` is enabled, else None; the key comes from the environment."""
        settings = config.cloud_llm
        if not settings.enabled:
            return None
        key = os.environ.get(settings.api_key_env, "").strip()
        if not key:
            raise CloudLlmMisconfigured(f"cloud_llm is enabled but the environment variable {settings.api_key_env} "
                                        "holding its API key is not set")
        return cls(settings, key)

    def interpret(self, utterance: str, expects: str, context: str, redactor: Redactor, *,
                  store: Store | None = None, call_id: str | None = None) -> Interpretation | None:
        """The cloud model's reading of a redacted utterance, placeholders restored; None on any failure."""
        started = time.monotonic()
        result, outcome = None, "ok"
        try:
            body = self.request_body(redactor.redact(utterance, expects=expects), expects,
                                     redactor.redact(context or ""))
            result = self._interpretation(self._post(body, started + self.settings.timeout_seconds), redactor)
        except _Failure as failure:
            outcome = failure.code
        self.last_error = None if outcome == "ok" else outcome
        self.last_outcome, self.last_ms = outcome, round((time.monotonic() - started) * 1000)
        log.info("cloud-llm %s in %d ms", outcome, self.last_ms)  # codes and timings only, never words
        if store is not None:
            self.audit_use(store, call_id, outcome)
        return result

    def request_body(self, utterance: str, expects: str, context: str) -> dict:
        """The chat-completions request for already-redacted text."""
        user = f"The receptionist last said: {context or '(nothing yet)'}\n" \
               f"It is waiting for: {expects}\nThe caller said: {utterance}"
        return {
            "model": self.settings.model,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
            "temperature": 0,
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "interpretation", "schema": SCHEMA, "strict": True}},
        }

    def audit_use(self, store: Store, call_id: str | None, outcome_code: str | None = None) -> int:
        """Record one use of the cloud model (call id, outcome code, model name; never text)."""
        return audit_use(store, call_id, outcome_code or self.last_outcome or "unknown", self.settings.model,
                         ms=self.last_ms)

    def _post(self, body: dict, deadline: float) -> bytes:
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST", headers={
            "Authorization": f"Bearer {self._key}", "Content-Type": "application/json",
            "Accept": "application/json", "User-Agent": "dentra-edge"})
        try:
            with self._opener.open(request, timeout=self.settings.timeout_seconds) as response:
                return _read(response, deadline)
        except urllib.error.HTTPError as e:
            e.close()
            raise _Failure(f"cloud-http-{e.code}") from None
        except urllib.error.URLError as e:
            raise _Failure(_network_code(e.reason)) from None
        except (OSError, http.client.HTTPException) as e:
            raise _Failure(_network_code(e)) from None

    def _interpretation(self, raw: bytes, redactor: Redactor) -> Interpretation:
        try:
            message = json.loads(raw)["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Failure("cloud-bad-answer") from None
        if not isinstance(message, dict):
            raise _Failure("cloud-bad-answer")
        if message.get("refusal"):
            raise _Failure("cloud-refused")
        try:
            data = json.loads(_strip_fence(message.get("content")))
        except (TypeError, ValueError):
            raise _Failure("cloud-bad-answer") from None
        found = from_model_json(data, source="cloud", confidence=CLOUD_CONFIDENCE)
        if found is None:
            raise _Failure("cloud-bad-answer")
        slots = {}
        for name, value in found.slots.items():
            restored = redactor.restore(value)
            # a placeholder we never sent is the model guessing; the slot means nothing then
            if not redactor.has_placeholder(restored):
                slots[name] = restored
        return replace(found, slots=slots)


def audit_use(store: Store, call_id: str | None, outcome_code: str, model: str, ms: int | None = None) -> int:
    """One `cloud-llm-used` audit row (inside its own write unless one is open); returns its seq."""
    detail = {"outcome": outcome_code, "model": model} | ({"ms": ms} if ms is not None else {})
    if store.conn.in_transaction:
        return audit.record(store, "brain", "cloud-llm-used", patient_id=None, subject=call_id, **detail)
    with store.write():
        return audit.record(store, "brain", "cloud-llm-used", patient_id=None, subject=call_id, **detail)


def _read(response, deadline: float) -> bytes:
    """The response body, within the overall deadline and a size cap."""
    chunks, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise _Failure("cloud-timeout")
        chunk = response.read1(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise _Failure("cloud-bad-answer")
        chunks.append(chunk)


def _strip_fence(content):
    """Some compatible servers wrap the JSON in a Markdown fence despite the schema."""
    if isinstance(content, str) and content.strip().startswith("```"):
        content = content.strip().strip("`")
        content = content[4:] if content.startswith("json") else content
    return content
