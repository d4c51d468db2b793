"""Dates in a question or query -> a published date range: "in 2021", "since March 2023", "last year", ...

Only phrases that say when (a preposition or "last"/"this" with a year, month or period) become filters: a bare
year ("the 2021 budget") is a topic, not a date range, and so is a period after today ("targets in 2030"). Several phrases narrow each other ("since 2020 and before
2023"). Relative phrases count from `today` (injectable for tests). docs/time.md lists what is understood.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH = r"(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?:1[89]\d\d|20\d\d|21\d\d)"
# A period: "March 2023", "2023", "last year", "this month", "the last 3 years" (and "past" for "last").
_PERIOD = (rf"(?:(?P<{{p}}m>{_MONTH})\s+(?P<{{p}}y>{_YEAR})|(?P<{{p}}yo>{_YEAR})"
           rf"|(?P<{{p}}rel>last|this|past|previous)\s+(?P<{{p}}unit>year|month|week))")


def _period(prefix: str) -> str:
    return _PERIOD.format(p=prefix)


_PATTERNS = [
    ("between", re.compile(rf"\b(?:between|from)\s+{_period('a')}\s+(?:and|to|until|till)\s+{_period('b')}\b", re.I)),
    ("range", re.compile(rf"\b(?:in\s+)?(?P<ay>{_YEAR})\s*(?:-|–|to)\s*(?P<by>{_YEAR})\b", re.I)),
    ("rolling", re.compile(r"\b(?:in|over|during|within)\s+the\s+(?:last|past)\s+(?P<n>\d{1,3})\s+"
                           r"(?P<unit>years?|months?|weeks?|days?)\b", re.I)),
    ("since", re.compile(rf"\b(?:since|from)\s+{_period('a')}\b", re.I)),
    ("after", re.compile(rf"\bafter\s+{_period('a')}\b", re.I)),
    ("before", re.compile(rf"\b(?:before|prior\s+to)\s+{_period('a')}\b", re.I)),
    ("until", re.compile(rf"\b(?:until|till|up\s+to|through)\s+{_period('a')}\b", re.I)),
    ("in", re.compile(rf"\b(?:in|during|throughout)\s+(?:the\s+)?{_period('a')}\b", re.I)),
    ("bare", re.compile(r"\b(?P<arel>last|this|past|previous)\s+(?P<aunit>year|month|week)(?:['’]s)?\b", re.I)),
]


@dataclass
class DateRange:
    """published_from / published_to (inclusive, None = open) and the words of the query that gave them."""

    start: dt.date | None = None
    end: dt.date | None = None
    phrases: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.start is not None and self.end is not None and self.start > self.end


def _bounds(m: re.Match, p: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day of the period captured under prefix `p`."""
    g = m.groupdict()
    if g.get(f"{p}m"):
        year, month = int(g[f"{p}y"]), _MONTHS[g[f"{p}m"].lower().rstrip(".")]
        return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])
    if g.get(f"{p}yo") or g.get(f"{p}y"):
        year = int(g.get(f"{p}yo") or g[f"{p}y"])
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    rel, unit = g[f"{p}rel"].lower(), g[f"{p}unit"].lower()
    back = rel != "this"
    if unit == "year":
        year = today.year - back
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    if unit == "month":
        first = today.replace(day=1)
        if back:
            first = (first - dt.timedelta(days=1)).replace(day=1)
        return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])
    monday = today - dt.timedelta(days=today.weekday()) - dt.timedelta(weeks=back)
    return monday, monday + dt.timedelta(days=6)


def _range(kind: str, m: re.Match, today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    if kind == "between":       # either order: "between 2025 and 2020" is 2020 to 2025
        a, b = _bounds(m, "a", today), _bounds(m, "b", today)
        return min(a[0], b[0]), max(a[1], b[1])
    if kind == "range":
        return dt.date(int(m["ay"]), 1, 1), dt.date(int(m["by"]), 12, 31)
    if kind == "rolling":
        n, unit = int(m["n"]), m["unit"].lower().rstrip("s")
        days = {"year": 365 * n, "month": 30 * n, "week": 7 * n, "day": n}[unit]
        return today - dt.timedelta(days=days), today
    lo, hi = _bounds(m, "a", today)
    return {"since": (lo, None), "after": (hi + dt.timedelta(days=1), None), "before": (None, lo - dt.timedelta(days=1)),
            "until": (None, hi), "in": (lo, hi), "bare": (lo, hi)}[kind]


def find_dates(text: str, today: dt.date | None = None) -> DateRange | None:
    """The date range the text asks about, or None when it names none."""
    today = today or dt.date.today()
    taken: list[tuple[int, int]] = []
    found = DateRange()
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < e and m.end() > s for s, e in taken):
                continue                        # words already read as part of a longer phrase
            try:
                lo, hi = _range(kind, m, today)
            except ValueError:                  # a year outside what dates hold
                continue
            if (kind == "range" and lo > hi) or (lo and lo > today):
                continue                        # "targets in 2030" is about the future, not when it was written
            taken.append((m.start(), m.end()))
            found.phrases.append(m.group(0))
            found.start = lo if found.start is None or (lo and lo > found.start) else found.start
            found.end = hi if found.end is None or (hi and hi < found.end) else found.end
    if not taken:
        return None
    order = sorted(range(len(taken)), key=lambda i: taken[i])
    found.spans = [taken[i] for i in order]
    found.phrases = [found.phrases[i] for i in order]
    return found


def without_dates(text: str, spans: list[tuple[int, int]]) -> str:
    """The text with the date phrases cut out and the spacing tidied ("CPTPP in 2021?" -> "CPTPP?")."""
    out, last = [], 0
    for s, e in sorted(spans):
        out.append(text[last:s])
        last = e
    out.append(text[last:])
    joined = re.sub(r"\s+([?.!,;:])", r"\1", re.sub(r"\s{2,}", " ", "".join(out)))
    return joined.strip()
