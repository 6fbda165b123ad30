"""``monitoring``: Prometheus, Alertmanager and blackbox_exporter from Debian's packages, their
configuration generated from the inventory (``monitoring.config.generate``).

Each file is installed with ``checked_file``, which validates it with the service's own checker
and puts the old file back when the checker refuses it: rules with ``promtool check rules``,
``prometheus.yml`` with ``promtool check config`` (which also loads the rules and file_sd
paths), ``alertmanager.yml`` with ``amtool check-config``, ``blackbox.yml`` with the exporter's
``--config.check``. Services are reloaded (SIGHUP) only when a file changed; target lists
(``file_sd/*.json``) are re-read by Prometheus by itself.

Data (``host.data``): ``egov_inventory`` (the inventory the configuration comes from) and the
``monitoring__*`` settings (``inventory/defaults/monitoring.yml``).
"""

from __future__ import annotations

import base64
from functools import lru_cache
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd
from pyinfra.operations.util import any_changed

from deploys import data, host_name, render, secret
from deploys.base import host_tls
from deploys.context import deploy_context
from deploys.ops.config import checked_file
from deploys.pki import issuer_of, trust
from monitoring.webconfig import ONCALL_USER, PASSWORD_FILE, SCRAPE_USER, SECRETS, WEB_CONFIG

if TYPE_CHECKING:
    from monitoring.targets import Server

ETC = "/etc/prometheus"
PACKAGES = ["prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter"]
PROMETHEUS_RELOAD = "systemctl reload-or-restart prometheus"
# Which checker validates which generated file, and what reloads its service.
CHECKS: dict[str, tuple[str, str | None]] = {
    "rules/": ("promtool check rules {path}", PROMETHEUS_RELOAD),
    "file_sd/": ("python3 -m json.tool {path} >/dev/null", None),
    "blackbox.yml": ("prometheus-blackbox-exporter --config.check --config.file={path}",
                     "systemctl reload-or-restart prometheus-blackbox-exporter"),
    "alertmanager.yml": ("amtool check-config {path}", "systemctl reload-or-restart prometheus-alertmanager"),
    "prometheus.yml": ("promtool check config {path}", PROMETHEUS_RELOAD),
}
# the alert receiver: one standard-library script of the monitoring package, run by the host's python3
RECEIVER_SOURCE = Path(__file__).resolve().parent.parent / "monitoring" / "receiver.py"
RECEIVER_SCRIPT = "/opt/egov-alert-receiver/receiver.py"
RECEIVER_SERVICE = "egov-alert-receiver"
# installed by this deploy's own steps, not by the checked loop over the generated files
OWN_FILES = ("egov-exporter.yml", "alert-receiver.json")


@lru_cache(maxsize=4)
def _generated(inventory_path: str) -> dict[str, Any]:
    """Every monitoring server's files, generated once per run."""
    from monitoring.config import generate

    return generate(deploy_context().inventory)


def _check_for(rel: str) -> tuple[str, str | None]:
    return next(v for k, v in CHECKS.items() if rel == k or (k.endswith("/") and rel.startswith(k)))


def _order(rel: str) -> int:
    """Rules and targets before the main config, whose check loads them."""
    return 1 if rel == "prometheus.yml" else 0


@deploy("Monitoring")
def apply() -> None:
    from monitoring.targets import build_plan, host_settings

    inv = deploy_context().inventory
    name = host_name()
    server = _generated(str(inv.path))[name]
    plan = build_plan(inv)
    s = host_settings(inv, inv.hosts[name])

    apt.packages(name="Prometheus, Alertmanager, blackbox_exporter", packages=PACKAGES, no_recommends=True)
    # how Prometheus logs in to every endpoint it asks (prometheus.yml names the file, promtool checks it is there)
    files.put(name="Prometheus' scrape password", dest=PASSWORD_FILE, src=StringIO(secret(SECRETS[SCRAPE_USER])),
              user="root", group="prometheus", mode="640", create_remote_dir=False)
    # checked_file creates rules/ and file_sd/; Prometheus loads only our rules/*.yml
    for rel in sorted((r for r in server.files if r not in OWN_FILES), key=_order):
        check, reload = _check_for(rel)
        checked_file(name=f"{ETC}/{rel}", path=f"{ETC}/{rel}", content=server.files[rel], check=check, reload=reload)

    netraw = files.put(name="blackbox may send ICMP",
                       dest="/etc/systemd/system/prometheus-blackbox-exporter.service.d/egov.conf",
                       src=StringIO(render("monitoring", "blackbox-net-raw.conf")), create_remote_dir=True)
    bb_args = files.put(name="blackbox settings", dest="/etc/default/prometheus-blackbox-exporter",
                        src=StringIO(render("monitoring", "blackbox.default.j2", port=s.blackbox_port,
                                            web_config=WEB_CONFIG)))
    systemd.service(name="blackbox restarted on change", service="prometheus-blackbox-exporter", restarted=True,
                    daemon_reload=True, _if=any_changed(netraw, bb_args))

    # the links in alerts and pages (generatorURL, Alertmanager's silence links): HTTPS now, and a
    # name on the host certificate that the DC's DNS serves
    external_name = f"{name}.{inv.province.domain}"
    prom_args = files.put(name="Prometheus settings", dest="/etc/default/prometheus",
                          src=StringIO(render("monitoring", "prometheus.default.j2", port=s.prometheus_port,
                                              retention=s.retention, web_config=WEB_CONFIG,
                                              external_name=external_name)))
    systemd.service(name="Prometheus restarted on change", service="prometheus", restarted=True,
                    _if=any_changed(prom_args))

    services = ["prometheus", "prometheus-blackbox-exporter"]
    me_server = plan.servers[name]
    if me_server.top:
        peers = [f"{t.address}:{t.settings.alertmanager_cluster_port}" for t in plan.top if t.name != name]
        # a lone Alertmanager needs no cluster: an empty listen address turns gossip off
        listen = f"0.0.0.0:{s.alertmanager_cluster_port}" if peers else ""
        am_args = files.put(name="Alertmanager settings", dest="/etc/default/prometheus-alertmanager",
                            src=StringIO(render("monitoring", "alertmanager.default.j2", port=s.alertmanager_port,
                                                cluster_listen=listen, peers=peers, web_config=WEB_CONFIG,
                                                external_name=external_name)))
        systemd.service(name="Alertmanager restarted on change", service="prometheus-alertmanager",
                        restarted=True, _if=any_changed(am_args))
        services.append("prometheus-alertmanager")
        _delivery(server.files)
    for service in services:
        systemd.service(name=f"{service} running", service=service, running=True, enabled=True)
    if me_server.top:
        oncall_web(me_server)


def _delivery(files_of_server: dict[str, str]) -> None:
    """What a top-level server needs to deliver pages: the mail host's CA trusted (Alertmanager
    verifies its certificate with the host's trust store), and the alert receiver running."""
    from monitoring.delivery import RECEIVER_CONFIG, RECEIVER_STATE_DIR

    inv = deploy_context().inventory
    mail_hosts = inv.hosts_with_role("mail")
    if mail_hosts:
        trust(issuer_of("mail", mail_hosts[0].vars), "mail host")
    script = files.put(name="alert receiver", src=str(RECEIVER_SOURCE), dest=RECEIVER_SCRIPT, mode="644",
                       create_remote_dir=True)
    config = checked_file(name="alert receiver configuration", path=f"{ETC}/{RECEIVER_CONFIG}",
                          content=files_of_server[RECEIVER_CONFIG], check="python3 -m json.tool {path} >/dev/null")
    unit = files.put(name="alert receiver unit", dest=f"/etc/systemd/system/{RECEIVER_SERVICE}.service",
                     src=StringIO(render("monitoring", "egov-alert-receiver.service.j2", script=RECEIVER_SCRIPT,
                                         config=f"{ETC}/{RECEIVER_CONFIG}",
                                         state_dir=Path(RECEIVER_STATE_DIR).name)))
    systemd.service(name="alert receiver restarted on change", service=RECEIVER_SERVICE, restarted=True,
                    daemon_reload=True, _if=any_changed(script, config, unit))
    systemd.service(name="alert receiver running", service=RECEIVER_SERVICE, running=True, enabled=True)


WEB_ROOT = "/var/www/egov-oncall"


def oncall_web(server: Server) -> None:
    """The on-call web page (``monitoring/web/``) of a top-level server: its files under
    ``WEB_ROOT``, served by nginx with TLS on ``monitoring__web_port`` to the NOC networks only,
    with GET-only paths to this host's Prometheus and Alertmanager (the page's only way to them).
    The certificate is ``monitoring__cert_file``/``monitoring__key_file``, or the lab CA's for
    ``monitoring.<domain>``, the host's name and its management address."""
    from deploys.pki import certificate, install
    from deploys.web import nginx
    from monitoring.web.site import page_json, proxies, static_files

    inv = deploy_context().inventory
    me = inv.hosts[server.name]
    names = [f"monitoring.{inv.province.domain}", me.name, str(me.mgmt_ip)]
    issued = certificate("monitoring", names, prefix="monitoring")
    nginx()
    cert, key = install(issued, "monitoring")
    files.directory(name="on-call page directory", path=WEB_ROOT, mode="755")
    for rel, path in static_files().items():
        files.put(name=f"on-call page {rel}", src=str(path), dest=f"{WEB_ROOT}/{rel}", mode="644")
    files.put(name="on-call page data", src=StringIO(page_json(inv, server)), dest=f"{WEB_ROOT}/page.json",
              mode="644")
    # the page's proxy asks this host's Prometheus and Alertmanager as user oncall: the file holds
    # its password, so it is root's only (nginx reads its configuration as root)
    credentials = base64.b64encode(f"{ONCALL_USER}:{secret(SECRETS[ONCALL_USER])}".encode()).decode()
    site = render("monitoring", "web-site.conf.j2", port=data("monitoring__web_port"), server_names=names[:2],
                  cert=cert, key=key, root=WEB_ROOT, allow=[str(n) for n in inv.noc_networks],
                  proxies=proxies(server), upstream_ca=host_tls()[2], upstream_name=me.name,
                  upstream_auth=f"Basic {credentials}")
    checked_file(name="nginx: on-call page for the NOC", path="/etc/nginx/sites-enabled/egov-oncall.conf",
                 content=site, mode="600", check="nginx -t -q", reload="systemctl reload-or-restart nginx")
    systemd.service(name="nginx running", service="nginx", running=True, enabled=True)
