"""How the box says things: dates, times, lists and money, spoken the way a receptionist would.

Replies are filled from the store and the config only; nothing here invents a fact.
"""

from __future__ import annotations

from datetime import date, datetime, time


def join_words(*parts: str) -> str:
    """Sentences and phrases joined by single spaces, empty ones left out."""
    return " ".join(p for p in parts if p)


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def say_time(t: time) -> str:
    """1 PM, 10:30 AM, noon."""
    if t == time(12, 0):
        return "noon"
    hour = t.hour % 12 or 12
    suffix = "AM" if t.hour < 12 else "PM"
    return f"{hour} {suffix}" if t.minute == 0 else f"{hour}:{t.minute:02d} {suffix}"


def say_day(d: date, today: date | None = None) -> str:
    """'today', 'tomorrow', or 'Thursday, December 3rd'."""
    if today is not None:
        if d == today:
            return "today"
        if (d - today).days == 1:
            return "tomorrow"
    return f"{d:%A}, {d:%B} {ordinal(d.day)}"


def say_when(moment: datetime, today: date | None = None) -> str:
    return f"{say_day(moment.date(), today)} at {say_time(moment.time())}"


def say_on(moment: datetime | date, today: date | None = None) -> str:
    """'today at 11 AM' or 'on Thursday, December 3rd at 1 PM' (a date alone: 'on Thursday, ...')."""
    text = say_when(moment, today) if isinstance(moment, datetime) else say_day(moment, today)
    return text if text.startswith(("today", "tomorrow")) else f"on {text}"


def say_list(items: list[str], joiner: str = "or") -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {joiner} " + items[-1]


def say_money(amount: float) -> str:
    return f"${amount:,.0f}" if float(amount).is_integer() else f"${amount:,.2f}"


def say_hours(hours: dict, breaks=()) -> str:
    """'Monday to Thursday 8 AM to 5 PM, Friday 8 AM to 2 PM'; consecutive equal days are grouped."""
    names = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday", "fri": "Friday",
             "sat": "Saturday", "sun": "Sunday"}
    order = [d for d in names if d in hours]
    groups: list[list[str]] = []
    for day in order:
        prev = groups[-1][-1] if groups else None
        adjacent = prev is not None and list(names).index(day) == list(names).index(prev) + 1
        if prev is not None and adjacent and hours[prev] == hours[day]:
            groups[-1].append(day)
        else:
            groups.append([day])
    parts = []
    for g in groups:
        span = names[g[0]] if len(g) == 1 else f"{names[g[0]]} to {names[g[-1]]}"
        parts.append(f"{span} {say_time(hours[g[0]].start)} to {say_time(hours[g[0]].end)}")
    text = ", ".join(parts)
    if breaks:
        text += "; closed " + " and ".join(f"{say_time(b.start)} to {say_time(b.end)}" for b in breaks)
    return text


def say_provider(name: str) -> str:
    """A provider's name as spoken: 'Ana Rivera, RDH' -> 'Ana Rivera'."""
    return name.split(",")[0].strip()
