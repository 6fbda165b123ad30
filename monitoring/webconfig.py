"""TLS and authentication of every Prometheus-stack endpoint, and how Prometheus and the on-call
tools present themselves to them.

Prometheus 2.42, Alertmanager 0.25, node_exporter 1.5, blackbox_exporter 0.23 and
postgres_exporter 0.11 (Debian 12) all take ``--web.config.file`` (the Prometheus exporter-toolkit's
format, checked by ``promtool check web-config``): ``tls_server_config`` with the host's own
certificate, and ``basic_auth_users`` with bcrypt hashes. The toolkit reads the file on every
request, so a changed password or certificate needs no restart. The egov exporter reads the same
file (``monitoring/exporter/webauth.py``).

Two users: ``prometheus`` (Prometheus scraping, federating and sending alerts; its password in a
file on the monitoring host) and ``oncall`` (``egov monitor``, the on-call page's proxy), with
the secrets ``monitoring_scrape_password`` and ``monitoring_oncall_password``.
"""

from __future__ import annotations

from typing import Any

import yaml

# where the web config and Prometheus' password file sit on every host
WEB_CONFIG = "/etc/prometheus/web.yml"
PASSWORD_FILE = "/etc/prometheus/scrape.password"
SCRAPE_USER = "prometheus"
ONCALL_USER = "oncall"
# user -> the secret that holds its password
SECRETS = {SCRAPE_USER: "monitoring_scrape_password", ONCALL_USER: "monitoring_oncall_password"}


def web_config(cert: str, key: str, users: dict[str, str]) -> str:
    """The ``--web.config.file`` of a host: TLS 1.2+ with ``cert``/``key``, and ``users``
    (name -> bcrypt hash) who may ask."""
    return yaml.safe_dump({"tls_server_config": {"cert_file": cert, "key_file": key, "min_version": "TLS12"},
                           "basic_auth_users": dict(sorted(users.items()))}, sort_keys=False)


def scrape_client(ca_file: str, server_name: str | None = None) -> dict[str, Any]:
    """How Prometheus asks an endpoint (a scrape job, an Alertmanager): HTTPS, the endpoint's
    certificate checked against ``ca_file`` (for the name ``server_name`` when Prometheus asks it
    at an address its certificate does not hold: 127.0.0.1), as user ``prometheus``."""
    tls: dict[str, Any] = {"ca_file": ca_file}
    if server_name:
        tls["server_name"] = server_name
    return {"scheme": "https", "tls_config": tls,
            "basic_auth": {"username": SCRAPE_USER, "password_file": PASSWORD_FILE}}
