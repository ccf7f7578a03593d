"""`dentra status` as an admin reads it: one line per part, then what needs attention."""

from __future__ import annotations


def _size(n: int | None) -> str:
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def render(status: dict) -> str:
    """Plain text of a `gather()` result."""
    sip, disk, store = status["sip"], status["disk"], status["store"]
    rep, drill = status["replication"], status["drill"]
    models = ", ".join(f"{m['name']} {m['state']}" for m in status["models"].values() if m.get("name")) or "none"
    where = f"{sip.get('registrar')} as {sip.get('extension')}" if sip.get("registrar") else "direct calls"
    lines = [
        f"Dentra Edge status at {status['checked_at']} ({status['data_dir']})",
        f"  sip          {sip.get('state')} ({where}) since {sip.get('since')}",
        f"  models       {models}",
        f"  disk         {_size(disk.get('free_bytes'))} free of {_size(disk.get('total_bytes'))}",
        f"  store        {_size(store.get('bytes'))}, pending migrations: {store.get('pending_migrations') or 'none'}",
        f"  replication  {rep.get('state')} {rep.get('target') or ''} lag {rep.get('lag_s')} s, "
        f"restarts {rep.get('restarts')}".replace(" None", " -"),
        f"  last drill   {drill.get('result') or 'never'} {drill.get('finished_at') or ''} "
        f"lag {drill.get('lag_s')} s".replace(" None", " -"),
    ]
    last = status.get("last_error")
    lines.append(f"  last error   {last['at']} {last['source']}: {last['message']}" if last else "  last error   none")
    if status["problems"]:
        lines.append("Needs attention:")
        lines += [f"  - {p}" for p in status["problems"]]
    else:
        lines.append("Nothing needs attention.")
    return "\n".join(lines)
