"""Monitoring settings: the inventory's resolved vars first, then ``monitoring/defaults.yml``.

In a lab inventory, ``monitoring/defaults-lab.yml`` (short intervals) replaces both the
defaults and the inventory's built-in defaults, but never a value the inventory file sets.

Values are checked here once, so every generator downstream can trust them; a bad value is an
error naming where the inventory set it (``inv.origin``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from egov.errors import MonitoringError

DEFAULTS_FILE = Path(__file__).with_name("defaults.yml")
LAB_DEFAULTS_FILE = Path(__file__).with_name("defaults-lab.yml")
PREFIX = "monitoring__"
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


@lru_cache(maxsize=2)
def defaults(lab: bool = False) -> dict[str, Any]:
    """The documented defaults (keys with their ``monitoring__`` prefix)."""
    data = dict(yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8")))
    if lab:
        data.update(yaml.safe_load(LAB_DEFAULTS_FILE.read_text(encoding="utf-8")))
    return data


@dataclass(frozen=True)
class Settings:
    """Monitoring settings of one site or host (field names are the keys without the prefix)."""

    scrape_interval: str
    evaluation_interval: str
    host_down_for: str
    group_wait: str
    group_interval: str
    repeat_interval: str
    retention: str
    cert_warning_days: int
    backup_max_age_hours: int
    replication_lag_seconds: int
    disk_free_ratio: float
    disk_critical_ratio: float
    prometheus_port: int
    alertmanager_port: int
    alertmanager_cluster_port: int
    blackbox_port: int
    node_exporter_port: int
    postgres_exporter_port: int
    egov_exporter_port: int
    public_endpoints: list[dict[str, str]]
    tls_ports: dict[str, list[int]]
    app_health_path: str
    docexchange_url: str
    backup_status_file: str
    drift_file: str
    collect_interval: int
    drift_interval: int
    noc_email: str
    noc_webhook: str
    it_email: str
    it_webhook: str
    smtp_smarthost: str
    smtp_from: str
    runbook_base: str


def settings_from(vars: Mapping[str, Any], domain: str, where: Callable[[str], str | None] = lambda key: None,
                  lab: bool = False) -> Settings:
    """Build Settings from resolved vars; ``where(key)`` names the origin of a value (for errors,
    and to tell a value the inventory file set from the inventory's built-in defaults).

    Strings may hold ``{domain}``, replaced by the province's public domain.
    """
    base = defaults(lab)
    problems: list[str] = []
    values: dict[str, Any] = {}
    for f in fields(Settings):
        key = PREFIX + f.name
        origin = where(key) or ""
        from_vars = key in vars and not (lab and key in _lab_keys() and origin.startswith("defaults"))
        value = vars[key] if from_vars else base[key]
        origin = origin if from_vars else f"defaults monitoring/{(LAB_DEFAULTS_FILE if lab else DEFAULTS_FILE).name}"
        try:
            values[f.name] = _check(f.name, value, domain)
        except (TypeError, ValueError) as exc:
            problems.append(f"{origin}: {key}: {exc}")
    if problems:
        raise MonitoringError("\n".join(problems))
    return Settings(**values)


@lru_cache(maxsize=1)
def _lab_keys() -> frozenset[str]:
    return frozenset(yaml.safe_load(LAB_DEFAULTS_FILE.read_text(encoding="utf-8")))


def _check(name: str, value: Any, domain: str) -> Any:
    expected = Settings.__dataclass_fields__[name].type
    if expected == "str" and name.endswith(("_interval", "_for", "_wait")) and isinstance(value, int) \
            and not isinstance(value, bool):
        value = f"{value}s"  # the inventory's built-in defaults give intervals in seconds
    if expected == "str":
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        value = value.replace("{domain}", domain)
        if name.endswith(("_interval", "_for", "_wait", "retention")) and not _DURATION.match(value):
            raise ValueError(f"not a Prometheus duration (like 30s, 5m): {value!r}")
        return value
    if expected == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise TypeError(f"expected a positive integer, got {value!r}")
        return value
    if expected == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise TypeError(f"expected a ratio between 0 and 1, got {value!r}")
        return float(value)
    if name == "public_endpoints":
        if not isinstance(value, list) or not all(
            isinstance(e, dict) and {"name", "target", "module"} <= set(e) for e in value
        ):
            raise TypeError("expected a list of {name, target, module}")
        return [{k: str(v).replace("{domain}", domain) for k, v in e.items()} for e in value]
    if name == "tls_ports":
        if not isinstance(value, dict) or not all(
            isinstance(p, list) and all(isinstance(n, int) for n in p) for p in value.values()
        ):
            raise TypeError("expected a mapping of role to a list of ports")
        return {str(k): list(v) for k, v in value.items()}
    raise TypeError(f"unsupported setting {name}")  # a field added without a check
