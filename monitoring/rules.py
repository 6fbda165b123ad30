"""Alert and recording rules, as data, parameterised by the monitoring settings.

Every alert has a severity (``critical`` pages, ``warning`` opens a ticket), a summary, a
description and a runbook link; each is covered by a ``promtool test rules`` case in
tests/fixtures/monitoring/rules_test.yml. The ``site:`` recording rules are the aggregates a
province server federates from district servers (and what ``egov monitor status`` reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitoring.settings import Settings

SITE_LABELS = "site, level, zone"
# The recorded series a federating server pulls (match[] of /federate).
FEDERATE_MATCH = ['{__name__=~"site:.+"}']
PROBE_JOBS = "icmp_.+|blackbox_.+"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    duration: str
    severity: str
    summary: str
    description: str


def recording_rules() -> list[dict[str, str]]:
    """Per-site aggregates; cheap to federate (a few series per site)."""
    reach = 'up{job="node"} or probe_success{job="icmp_router"}'
    # A probe job's `up` says only that blackbox answered; its target is up when the probe succeeds.
    targets = f'up{{job!~"{PROBE_JOBS}"}} or probe_success'
    return [
        {"record": "site:targets:count", "expr": f"count by ({SITE_LABELS}, job) ({targets})"},
        {"record": "site:targets_up:sum", "expr": f"sum by ({SITE_LABELS}, job) ({targets})"},
        {"record": "site:reachable:max", "expr": f"max by ({SITE_LABELS}) ({reach})"},
        {"record": "site:wan_reachable:max",
         "expr": f'max by ({SITE_LABELS}) (probe_success{{job="icmp_router"}})'},
        {"record": "site:wan_links_up:sum", "expr": f'sum by ({SITE_LABELS}) (probe_success{{job="icmp_link"}})'},
        {"record": "site:wan_links:count", "expr": f'count by ({SITE_LABELS}) (probe_success{{job="icmp_link"}})'},
        {"record": "site:alerts_firing:count",
         "expr": f'count by ({SITE_LABELS}, severity) (ALERTS{{alertstate="firing"}})'},
    ]


def alerts(settings: Settings) -> list[Alert]:
    """The alert catalogue; thresholds and delays from the settings."""
    days = settings.cert_warning_days
    hours = settings.backup_max_age_hours
    lag = settings.replication_lag_seconds
    return [
        Alert("HostDown", 'up{job="node"} == 0', settings.host_down_for, "critical",
              "Host {{ $labels.instance }} at {{ $labels.site }} is down",
              "node_exporter on {{ $labels.instance }} ({{ $labels.role }}) has not answered for "
              f"{settings.host_down_for}."),
        Alert("ExporterDown", f'up{{job!~"node|{PROBE_JOBS}"}} == 0', settings.host_down_for, "warning",
              "{{ $labels.job }} exporter on {{ $labels.instance }} is down",
              "Prometheus cannot scrape {{ $labels.job }} on {{ $labels.instance }} although the host may be up."),
        # Only this server's own aggregate: a federated one (it carries the district server's
        # `monitor` label) is alerted on by that district server already.
        Alert("SiteUnreachable", 'site:reachable:max{monitor=""} == 0', settings.host_down_for, "critical",
              "Site {{ $labels.site }} is unreachable",
              "No host and no router of {{ $labels.site }} ({{ $labels.level }}) answers: "
              "the site is cut off or without power."),
        Alert("RouterUnreachable", 'probe_success{job="icmp_router"} == 0', settings.host_down_for, "critical",
              "Router {{ $labels.instance }} at {{ $labels.site }} does not answer ping",
              "ICMP to the loopback of {{ $labels.instance }} fails from the monitoring server."),
        Alert("WanLinkDown", 'probe_success{job="icmp_link"} == 0', settings.host_down_for, "warning",
              "WAN link {{ $labels.instance }} is down",
              "The {{ $labels.router }} end of the link to {{ $labels.peer }} does not answer ping."),
        Alert("PublicEndpointDown", 'probe_success{role="public_endpoint"} == 0', settings.host_down_for, "critical",
              "Public endpoint {{ $labels.instance }} fails its probe",
              "The blackbox probe ({{ $labels.module }}) of {{ $labels.instance }} fails."),
        Alert("CertificateExpiringSoon",
              f'probe_ssl_earliest_cert_expiry{{job="blackbox_tls"}} - time() < {days} * 86400', "10m", "warning",
              "Certificate of {{ $labels.endpoint }} expires within " + str(days) + " days",
              "The certificate served at {{ $labels.endpoint }} expires in "
              "{{ $value | humanizeDuration }}; renew it."),
        Alert("PublicCertificateExpiringSoon",
              f'probe_ssl_earliest_cert_expiry{{role="public_endpoint"}} - time() < {days} * 86400', "10m",
              "warning",
              "Certificate of {{ $labels.instance }} expires within " + str(days) + " days",
              "The certificate of public endpoint {{ $labels.instance }} expires in "
              "{{ $value | humanizeDuration }}; renew it."),
        Alert("BackupTooOld",
              f"time() - egov_backup_last_success_timestamp_seconds > {hours} * 3600", "10m", "critical",
              "No good backup of {{ $labels.database }} for more than " + str(hours) + " h",
              "The last good backup of {{ $labels.database }} on {{ $labels.instance }} is "
              "{{ $value | humanizeDuration }} old."),
        Alert("DiskFilling",
              f'node_filesystem_avail_bytes{{fstype!~"tmpfs|overlay"}} / node_filesystem_size_bytes '
              f"< {settings.disk_free_ratio} and predict_linear(node_filesystem_avail_bytes"
              f'{{fstype!~"tmpfs|overlay"}}[6h], 24 * 3600) < 0', "30m", "warning",
              "Disk {{ $labels.mountpoint }} on {{ $labels.instance }} fills up within a day",
              "{{ $labels.mountpoint }} has {{ $value | humanizePercentage }} free and is predicted to be full "
              "within 24 h."),
        Alert("DiskAlmostFull",
              f'node_filesystem_avail_bytes{{fstype!~"tmpfs|overlay"}} / node_filesystem_size_bytes '
              f"< {settings.disk_critical_ratio}", "5m", "critical",
              "Disk {{ $labels.mountpoint }} on {{ $labels.instance }} is almost full",
              "{{ $labels.mountpoint }} has only {{ $value | humanizePercentage }} free."),
        Alert("DatabaseReplicationLag", f"pg_replication_replay_lag_seconds > {lag}", "5m", "critical",
              "Replica {{ $labels.application_name }} lags behind {{ $labels.instance }}",
              "Replay lag of {{ $labels.application_name }} is {{ $value | humanizeDuration }}."),
        Alert("DatabaseReplicaMissing",
              "pg_replication_status_replicas < 1 and pg_replication_status_is_primary == 1", "5m", "critical",
              "Primary {{ $labels.instance }} has no streaming replica",
              "No replica is streaming from {{ $labels.instance }}: the database has no N+1."),
        Alert("AppUnhealthy", 'probe_success{job="blackbox_app"} == 0', "2m", "critical",
              "Application {{ $labels.app }} on {{ $labels.instance }} is unhealthy",
              "The health endpoint {{ $labels.url }} fails or answers an error."),
        Alert("DocExchangeUnreachable", 'probe_success{job="blackbox_docexchange"} == 0', "10m", "warning",
              "The document-exchange platform is unreachable",
              "{{ $labels.url }} does not answer from the monitoring server: documents queue up."),
        Alert("RouterConfigDrift", "egov_router_config_drift_lines > 0", "1h", "warning",
              "Router {{ $labels.router }} differs from its intended configuration",
              "{{ $value }} lines differ between running and intended; run `egov net diff --limit "
              "{{ $labels.router }}`."),
        Alert("EgovCollectorFailing", "egov_collector_up == 0", "30m", "warning",
              "egov exporter collector {{ $labels.collector }} fails on {{ $labels.instance }}",
              "The background collector {{ $labels.collector }} has not succeeded for 30 minutes."),
    ]


def rule_groups(settings: Settings) -> dict[str, Any]:
    """The rules file (one recording group, one alerting group)."""
    rules = []
    for alert in alerts(settings):
        rules.append({
            "alert": alert.name,
            "expr": alert.expr,
            "for": alert.duration,
            "labels": {"severity": alert.severity},
            "annotations": {"summary": alert.summary, "description": alert.description,
                            "runbook_url": settings.runbook_base + alert.name.lower()},
        })
    return {"groups": [
        {"name": "egov-aggregates", "interval": settings.evaluation_interval, "rules": recording_rules()},
        {"name": "egov-alerts", "rules": rules},
    ]}
