"""Silences and acknowledgements through Alertmanager's API v2 (``POST /api/v2/silences``).

A matcher is written as amtool and the Alertmanager UI write them: ``name=value``,
``name!=value``, ``name=~regex``, ``name!~regex``. An acknowledgement is a short silence of one
alert (its name, narrowed by site or instance) whose author is the acker and whose comment says
it is an ack, so it shows as such in the status view and in Alertmanager's own UI.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from egov.errors import MonitoringError
from monitoring import api

_MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: list[dict[str, object]]
    starts_at: str
    ends_at: str
    created_by: str
    comment: str
    covers: int  # firing alerts it silences now (0: a typo, or for alerts still to come)

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "matchers": self.matchers, "startsAt": self.starts_at, "endsAt": self.ends_at,
                "createdBy": self.created_by, "comment": self.comment, "covers": self.covers}


def parse_matcher(text: str) -> dict[str, object]:
    """``site=tien-yen`` -> Alertmanager's matcher object; MonitoringError naming the bad one."""
    m = _MATCHER.match(text)
    if not m or not m.group(3):
        raise MonitoringError(f"matcher {text!r}: expected name=value, name!=value, name=~regex or name!~regex")
    name, op, value = m.groups()
    value = value.strip('"')
    if "~" in op:
        try:
            re.compile(value)
        except re.error as exc:
            raise MonitoringError(f"matcher {text!r}: bad regex: {exc}") from None
    return {"name": name, "value": value, "isRegex": "~" in op, "isEqual": not op.startswith("!")}


def parse_duration(text: str) -> dt.timedelta:
    """``2h``, ``30m``, ``1d12h``: MonitoringError unless it is a positive duration."""
    m = _DURATION.match(text.strip())
    if not text.strip() or not m or not any(m.groups()):
        raise MonitoringError(f"duration {text!r}: expected a number of d, h, m, s (like 2h or 1h30m)")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return dt.timedelta(days=d, hours=h, minutes=mi, seconds=s)


def create_silence(alertmanager: str, matchers: list[str], duration: str, comment: str, author: str,
                   http: api.Http = api.http_json, now: dt.datetime | None = None) -> Silence:
    """Silence what the matchers select for ``duration``; returns the silence Alertmanager holds."""
    if not matchers:
        raise MonitoringError("a silence needs at least one matcher (like alertname=HostDown)")
    if not comment.strip() or not author.strip():
        raise MonitoringError("a silence needs a comment and an author (who silenced it, and why)")
    parsed = [parse_matcher(m) for m in matchers]
    start = now or dt.datetime.now(dt.UTC)
    end = start + parse_duration(duration)
    # Alertmanager itself refuses matchers that would silence everything (HTTP 400, its reason shown)
    body: dict[str, Any] = {"matchers": parsed, "startsAt": _stamp(start), "endsAt": _stamp(end), "createdBy": author,
            "comment": comment}
    sid = api.post_silence(alertmanager, body, http)
    covers = len(api.alerts(alertmanager, http, [_filter(m) for m in parsed]))
    return Silence(sid, parsed, body["startsAt"], body["endsAt"], author, comment, covers)


def _filter(matcher: dict[str, Any]) -> str:
    """A matcher in Alertmanager's filter syntax (``name=~"value"``)."""
    op = {(True, False): "=", (True, True): "=~", (False, False): "!=", (False, True): "!~"}[
        (bool(matcher["isEqual"]), bool(matcher["isRegex"]))]
    value = str(matcher["value"]).replace("\\", "\\\\").replace('"', '\\"')
    return f'{matcher["name"]}{op}"{value}"'


def acknowledge(alertmanager: str, alertname: str, author: str, duration: str, site: str | None = None,
                instance: str | None = None, comment: str = "", http: api.Http = api.http_json,
                now: dt.datetime | None = None) -> Silence:
    """A short silence of one alert (by name, narrowed by site and instance) in the acker's name."""
    matchers = [f"alertname={alertname}"]
    matchers += [f"site={site}"] if site else []
    matchers += [f"instance={instance}"] if instance else []
    text = f"ack by {author}" + (f": {comment}" if comment else "")
    return create_silence(alertmanager, matchers, duration, text, author, http, now)


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
