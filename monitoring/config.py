"""Generate every monitoring server's configuration files from the inventory, write them
idempotently and validate them with Prometheus' own checkers.

Layout of one server's directory (paths inside are relative, so the tree can be staged,
checked with ``promtool check config`` and then moved into /etc/prometheus/egov/ as a whole):

    prometheus.yml  rules/egov.yml  file_sd/<job>.json  blackbox.yml
    alertmanager.yml and alert-receiver.json (top-level servers)  egov-exporter.yml
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from egov.errors import MonitoringError
from inventory.applications import APPS
from inventory.services import peer_ca
from monitoring.alertmanager import alertmanager_config
from monitoring.delivery import RECEIVER_CONFIG, receiver_config
from monitoring.rules import FEDERATE_MATCH, Expected, rule_groups
from monitoring.targets import (
    BLACKBOX_PROBES,
    MonitoringPlan,
    Server,
    Target,
    build_plan,
    host_settings,
    probe_targets,
    site_labels,
)
from monitoring.webconfig import WEB_CONFIG, scrape_client

if TYPE_CHECKING:
    from inventory.model import Host, Inventory

PROBE_MODULES = {"icmp_router": "icmp", "icmp_link": "icmp"}
# alertmanager and blackbox are file_sd jobs too: a rewrite of file_sd moves every address at once.
FILE_SD_JOBS = ("node", "postgres", "egov", "icmp_router", "icmp_link", "federate", "alertmanager", "blackbox")


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)


def _client(inv: Inventory, server: Server, local: bool = False) -> dict[str, Any]:
    """How ``server`` asks an endpoint (``webconfig.scrape_client``), with its host's CA; ``local``:
    at 127.0.0.1 or localhost, so the certificate is checked for the host's name."""
    return scrape_client(peer_ca(inv.hosts[server.name].vars), server.name if local else None)


def _probe_job(inv: Inventory, job: str, module: str, server: Server, files: list[str]) -> dict[str, Any]:
    """A blackbox job: the target becomes ?target=, the blackbox exporter is scraped instead."""
    return {
        "job_name": job,
        **_client(inv, server, local=True),
        "metrics_path": "/probe",
        "params": {"module": [module]},
        "file_sd_configs": [{"files": files}],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"target_label": "__address__", "replacement": f"127.0.0.1:{server.settings.blackbox_port}"},
        ],
    }


def prometheus_config(inv: Inventory, plan: MonitoringPlan, server: Server) -> dict[str, Any]:
    settings = server.settings
    jobs: list[dict[str, Any]] = [{
        "job_name": "prometheus",
        **_client(inv, server, local=True),
        "static_configs": [{"targets": [f"localhost:{settings.prometheus_port}"],
                            "labels": {**site_labels(inv, server.site), "instance": server.name,
                                       "role": "monitoring"}}],
    }]
    for job in ("node", "postgres", "alertmanager", "blackbox"):
        jobs.append({"job_name": job, **_client(inv, server, local=job == "blackbox"),
                     "file_sd_configs": [{"files": [f"file_sd/{job}.json"]}]})
    # The egov exporter labels each finding with the site, level and zone of its target (a district
    # host's certificate is the district's): those labels win over the exporter host's own.
    jobs.append({"job_name": "egov", **_client(inv, server), "honor_labels": True,
                 "file_sd_configs": [{"files": ["file_sd/egov.json"]}]})
    for job, module in PROBE_MODULES.items():
        jobs.append(_probe_job(inv, job, module, server, [f"file_sd/{job}.json"]))
    jobs.extend(probe_jobs(inv, server))
    for module in sorted({t.job for t in server.targets if t.job.startswith("blackbox_")}):
        jobs.append(_probe_job(inv, module, module.removeprefix("blackbox_"), server, [f"file_sd/{module}.json"]))
    jobs.append({
        "job_name": "federate",
        **_client(inv, server),
        "honor_labels": True,  # keep the district's site labels, not this job's
        "metrics_path": "/federate",
        "params": {"match[]": FEDERATE_MATCH},
        "file_sd_configs": [{"files": ["file_sd/federate.json"]}],
    })
    return {
        "global": {"scrape_interval": settings.scrape_interval,
                   "evaluation_interval": settings.evaluation_interval,
                   "external_labels": {"monitor": server.name}},
        "rule_files": ["rules/*.yml"],
        "alerting": {"alertmanagers": [{**_client(inv, server), "static_configs": [
            {"targets": [f"{top.address}:{top.settings.alertmanager_port}" for top in plan.top]}]}]},
        "scrape_configs": jobs,
    }


def file_sd(server: Server, inv: Inventory, plan: MonitoringPlan) -> dict[str, list[dict[str, Any]]]:
    """Target groups per job file, one group per target (each has its own labels).

    Every server scrapes its own blackbox_exporter and every top-level Alertmanager (the ones
    its alerts go to), so each of them being down is an alert somewhere.
    """
    groups: dict[str, list[dict[str, Any]]] = {job: [] for job in FILE_SD_JOBS}
    for target in server.targets:
        groups.setdefault(target.job, []).append({"targets": [target.address], "labels": target.labels})
    groups["blackbox"].append({"targets": [f"127.0.0.1:{server.settings.blackbox_port}"],
                               "labels": {**site_labels(inv, server.site), "instance": server.name,
                                          "role": "monitoring"}})
    for top in plan.top:
        groups["alertmanager"].append({"targets": [f"{top.address}:{top.settings.alertmanager_port}"],
                                       "labels": {**site_labels(inv, top.site), "instance": top.name,
                                                  "role": "monitoring"}})
    for lower in server.federates:
        labels = {**site_labels(inv, lower.site), "instance": lower.name, "role": "monitoring"}
        groups["federate"].append({"targets": [f"{lower.address}:{lower.settings.prometheus_port}"],
                                   "labels": labels})
    return groups


def probe_jobs(inv: Inventory, server: Server) -> list[dict[str, Any]]:
    """blackbox_exporter's multi-target jobs for applications' health, TLS certificates and the
    document-exchange platform (``monitoring.targets.probe_targets``), every
    ``monitoring__collect_interval`` seconds: an application answers the probe, not a scrape."""
    interval = server.settings.collect_interval
    jobs = []
    for job, module in BLACKBOX_PROBES.items():
        probe = _probe_job(inv, job, module, server, [f"file_sd/{job}.json"])
        jobs.append({**probe, "scrape_interval": f"{interval}s", "scrape_timeout": f"{min(interval, 10)}s"})
    return jobs


def probe_file_sd(probes: list[Target]) -> dict[str, list[dict[str, Any]]]:
    """The probe jobs' target files (``probe_targets``: one group per target, each with its own labels)."""
    groups: dict[str, list[dict[str, Any]]] = {job: [] for job in BLACKBOX_PROBES}
    for target in probes:
        groups[target.job].append({"targets": [target.address], "labels": target.labels})
    return groups


def blackbox_config(domain: str) -> dict[str, Any]:
    """blackbox_exporter's modules; ``domain`` is the name the platform's certificates hold."""
    return {"modules": {
        "http_health": {"prober": "http", "timeout": "5s", "http": {"preferred_ip_protocol": "ip4"}},
        # Verification off on purpose: an expired or privately signed certificate must still be
        # measured (probe_ssl_earliest_cert_expiry), not hidden behind a handshake error.
        "tls_certificate": {"prober": "tcp", "timeout": "5s", "tcp": {
            "preferred_ip_protocol": "ip4", "tls": True,
            "tls_config": {"insecure_skip_verify": True, "server_name": domain}}},
        "icmp": {"prober": "icmp", "timeout": "3s", "icmp": {"preferred_ip_protocol": "ip4"}},
        "http_2xx": {"prober": "http", "timeout": "5s",
                     "http": {"preferred_ip_protocol": "ip4", "fail_if_not_ssl": True}},
        # an agency's component portal (monitoring.targets.portal_targets): its home page over verified
        # TLS (the host's trust store holds the platform CA), HSTS on, no redirect followed
        "http_portal": {"prober": "http", "timeout": "5s", "http": {
            "preferred_ip_protocol": "ip4", "fail_if_not_ssl": True, "valid_status_codes": [200],
            "follow_redirects": False, "fail_if_header_not_matches": [
                {"header": "Strict-Transport-Security", "regexp": "max-age=[1-9]"}]}},
        "smtp_starttls": {"prober": "tcp", "timeout": "5s", "tcp": {
            "preferred_ip_protocol": "ip4",
            "query_response": [
                {"expect": "^220 "}, {"send": "EHLO egov-monitoring\r"}, {"expect": "^250 "},
                {"send": "STARTTLS\r"}, {"expect": "^220 "}, {"starttls": True},
                {"send": "EHLO egov-monitoring\r"}, {"expect": "^250 "}, {"send": "QUIT\r"},
            ]}},
    }}


def exporter_config(inv: Inventory, host: Host, plan: MonitoringPlan | None = None) -> dict[str, Any]:
    """The egov exporter's configuration on one host (see monitoring/exporter/config.py).

    Backup hosts report their own backups; monitoring servers the configuration drift of the
    routers of their sites, each router with its own site, level and zone (the labels its
    series carry). Applications and certificates are blackbox's (``probe_jobs``).
    """
    settings = host_settings(inv, host)
    conf: dict[str, Any] = {"listen": f"0.0.0.0:{settings.egov_exporter_port}", "interval": settings.collect_interval,
                            "web_config": WEB_CONFIG}
    if "backup" in host.roles:
        conf["backup_status_file"] = settings.backup_status_file
    if "monitoring" in host.roles:
        sites = set((plan or build_plan(inv)).servers[host.name].sites)
        conf["routers"] = [{"router": r.name, **site_labels(inv, r.site)} for r in inv.routers.values()
                           if r.site in sites]
        if settings.drift_file:
            conf["drift_file"] = settings.drift_file
            conf["drift_interval"] = settings.drift_interval
    return conf


def expected(inv: Inventory, server: Server, probes: list[Target]) -> Expected:
    """What the server must see, from its targets and its blackbox probes (``probe_targets``): each
    becomes a rule that fires when its series is bad or missing (monitoring/rules.py)."""
    apps: dict[str, dict[str, str]] = {}
    for probe in probes:
        if probe.job == "blackbox_app":  # every app runs in one site (the data centre): its first
            apps.setdefault(probe.labels["app"], site_labels(inv, probe.labels["site"]))
    # the databases the backup role dumps: one per application the inventory places (deploys/db.py)
    databases = [app.name for role, app in APPS.items() if inv.hosts_with_role(role)]
    backup_hosts = [h for h in inv.hosts_with_role("backup") if h.site in server.sites]
    return Expected(
        routers=[(t.labels["instance"], site_labels(inv, t.labels["site"])) for t in server.targets
                 if t.job == "icmp_router"],
        endpoints=[(t.job, t.labels["instance"], site_labels(inv, t.labels["site"])) for t in server.targets
                   if t.labels.get("role") == "public_endpoint"],
        apps=list(apps.items()),
        # `instance`: the host serving it, so the host's own alerts inhibit the endpoint's
        tls=[(t.labels["endpoint"], {**site_labels(inv, t.labels["site"]), "instance": t.labels["instance"]})
             for t in probes if t.job == "blackbox_tls"],
        backups=[(h.name, db, site_labels(inv, h.site)) for h in backup_hosts for db in databases],
    )


@dataclass(frozen=True)
class GeneratedServer:
    name: str
    files: dict[str, str]  # relative path -> content


def generate(inv: Inventory) -> dict[str, GeneratedServer]:
    """Every monitoring server's files, in inventory order; same inventory, same bytes."""
    plan = build_plan(inv)
    out: dict[str, GeneratedServer] = {}
    for server in plan.servers.values():
        probes = probe_targets(inv, server)
        files = {"prometheus.yml": dump_yaml(prometheus_config(inv, plan, server)),
                 "rules/egov.yml": dump_yaml(rule_groups(plan.settings, expected(inv, server, probes))),
                 "blackbox.yml": dump_yaml(blackbox_config(inv.province.domain)),
                 "egov-exporter.yml": dump_yaml(exporter_config(inv, inv.hosts[server.name], plan))}
        for job, groups in {**file_sd(server, inv, plan), **probe_file_sd(probes)}.items():
            files[f"file_sd/{job}.json"] = json.dumps(groups, indent=1, ensure_ascii=False) + "\n"
        if server.top:
            files["alertmanager.yml"] = dump_yaml(alertmanager_config(inv, plan))
            files[RECEIVER_CONFIG] = json.dumps(receiver_config(inv, plan, server), indent=1) + "\n"
        out[server.name] = GeneratedServer(server.name, files)
    return out


def write_tree(files: dict[str, str], directory: Path) -> list[str]:
    """Write files under ``directory``; only files whose content differs are touched.

    Returns the relative paths written (empty on a second run). Files of ours that are no
    longer generated (a job that disappeared) are removed and reported too.
    """
    changed: list[str] = []
    for rel, content in files.items():
        path = directory / rel
        if path.is_file() and path.read_text(encoding="utf-8") == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(path)
        changed.append(rel)
    for sub in ("file_sd", "rules"):
        for stale in sorted((directory / sub).glob("*")) if (directory / sub).is_dir() else []:
            rel = f"{sub}/{stale.name}"
            if rel not in files:
                stale.unlink()
                changed.append(rel)
    return changed


def check(directory: Path) -> list[str]:
    """Validate a written server directory with promtool and amtool; return the commands run.

    Raises MonitoringError with the checker's own output when one fails.
    """
    commands = [["promtool", "check", "config", str(directory / "prometheus.yml")]]
    if (directory / "alertmanager.yml").exists():
        commands.append(["amtool", "check-config", str(directory / "alertmanager.yml")])
    ran = []
    for cmd in commands:
        if shutil.which(cmd[0]) is None:
            raise MonitoringError(f"{cmd[0]} is not installed (apt-get install prometheus prometheus-alertmanager)")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            raise MonitoringError(f"{' '.join(cmd)} failed:\n{(proc.stdout + proc.stderr).strip()}")
        ran.append(" ".join(cmd))
    return ran
