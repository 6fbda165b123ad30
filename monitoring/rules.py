"""Alert and recording rules, as data, parameterised by the monitoring settings and the inventory.

Every alert has a severity (``critical`` pages: what users feel; ``warning`` opens a ticket: one
instance of something redundant, or a cause), a summary, a description and a runbook link
(docs/monitoring.md); each is covered by a firing and a not-yet-firing ``promtool test rules``
case in tests/fixtures/monitoring/rules_test.yml. The groups:

- ``egov-aggregates``: the ``site:`` recording rules a province server federates from district
  servers (and what ``egov monitor status`` reads);
- ``egov-alerts``: the platform (hosts, sites, WAN, databases, applications, certificates);
- ``egov-node``: host resources, on par with the node-mixin's alerts;
- ``egov-self``: monitoring watching itself, after the Prometheus and Alertmanager mixins, with the
  always-firing ``Watchdog`` (routed to the dead man's switch);
- ``egov-expected``: one rule per series the inventory says must exist (each router's probe, each
  public endpoint, each application's and TLS endpoint's blackbox probe, each database's backup). Each is
  staleness-aware: ``value is bad or absent(series)`` on one label set, so evidence that
  disappears keeps the alert firing instead of resolving it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitoring.settings import Settings

SITE_LABELS = "site, level, zone"
# The recorded series a federating server pulls (match[] of /federate), and the one raw series
# that says whether a district Prometheus can deliver its alerts (it cannot say so itself).
FEDERATE_MATCH = ['{__name__=~"site:.+"}',
                  '{__name__="prometheus_notifications_alertmanagers_discovered",job="prometheus"}']
PROBE_JOBS = "icmp_.+|blackbox_.+"
# Scrape jobs that have an alert of their own when down (monitoring/config.py names them).
OWN_DOWN_ALERT = "node|prometheus|federate|alertmanager|blackbox"
# Pseudo and read-only-by-design file systems are left out of the file-system alerts.
FS = 'fstype!~"tmpfs|overlay|squashfs|iso9660"'
# A redundancy group: the hosts of one site with the same roles (dc-app1 and dc-app2), or the
# routers of one site (job tells hosts from routers).
GROUP = "job, site, level, zone, role, roles"
REACH = 'up{job="node"} or probe_success{job="icmp_router"}'


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    duration: str
    severity: str
    summary: str
    description: str
    # besides severity: a generated rule's site and the identity of its series (promtool refuses
    # two rules with one name and the same labels)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Expected:
    """What the inventory says a server must see (monitoring/config.py builds it).

    + routers: (router, its site labels) probed by icmp_router
    + endpoints: (job, name, site labels) of the public endpoints probed by blackbox
    + apps: (app, site labels of its hosts) whose health blackbox probes (job blackbox_app)
    + tls: (endpoint, site labels and the serving host's instance) blackbox probes (job blackbox_tls)
    + backups: (backup host, database, site labels) the backup host's exporter reports
    """

    routers: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    endpoints: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    apps: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    tls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    backups: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


def recording_rules() -> list[dict[str, str]]:
    """Per-site aggregates; cheap to federate (a few series per site)."""
    # A probe job's `up` says only that blackbox answered; its target is up when the probe succeeds.
    targets = f'up{{job!~"{PROBE_JOBS}"}} or probe_success'
    return [
        {"record": "site:targets:count", "expr": f"count by ({SITE_LABELS}, job) ({targets})"},
        {"record": "site:targets_up:sum", "expr": f"sum by ({SITE_LABELS}, job) ({targets})"},
        {"record": "site:reachable:max", "expr": f"max by ({SITE_LABELS}) ({REACH})"},
        {"record": "site:wan_reachable:max",
         "expr": f'max by ({SITE_LABELS}) (probe_success{{job="icmp_router"}})'},
        {"record": "site:wan_links_up:sum", "expr": f'sum by ({SITE_LABELS}) (probe_success{{job="icmp_link"}})'},
        {"record": "site:wan_links:count", "expr": f'count by ({SITE_LABELS}) (probe_success{{job="icmp_link"}})'},
        {"record": "site:alerts_firing:count",
         "expr": f'count by ({SITE_LABELS}, severity) (ALERTS{{alertstate="firing"}})'},
    ]


def alerts(settings: Settings) -> list[Alert]:
    """The platform's alerts; thresholds and delays from the settings."""
    down = settings.host_down_for
    days, soon = settings.cert_warning_days, settings.cert_critical_days
    lag = settings.replication_lag_seconds
    peers = f'(count by ({GROUP}) (up{{job="node"}}) > 1)'
    return [
        Alert("HostDown", f'up{{job="node"}} == 0 unless on ({GROUP}) {peers}', down, "critical",
              "Host {{ $labels.instance }} at {{ $labels.site }} is down",
              "node_exporter on {{ $labels.instance }} ({{ $labels.role }}) has not answered for "
              f"{down}; no other host of the site has its roles, so its services are down."),
        Alert("RedundantHostDown", f'up{{job="node"}} == 0 and on ({GROUP}) {peers}', down, "warning",
              "Host {{ $labels.instance }} at {{ $labels.site }} is down; its peer carries the service",
              "node_exporter on {{ $labels.instance }} ({{ $labels.role }}) has not answered for "
              f"{down}; another host of the site has the same roles ({{{{ $labels.roles }}}})."),
        Alert("RedundantPairDown",
              f"count by ({GROUP}) (({REACH}) == 0) == count by ({GROUP}) ({REACH}) "
              f"and count by ({GROUP}) ({REACH}) > 1", down, "critical",
              "Every {{ $labels.role }} of {{ $labels.site }} is down",
              "Every member of the redundant group {{ $labels.role }} at {{ $labels.site }} is down "
              "({{ $value }} of them): its service is down."),
        Alert("ExporterDown", f'up{{job!~"{OWN_DOWN_ALERT}"}} == 0', down, "warning",
              "{{ $labels.job }} on {{ $labels.instance }} cannot be scraped",
              "Prometheus cannot scrape {{ $labels.job }} for {{ $labels.instance }}: its evidence is missing "
              "(for a probe job: blackbox does not answer the probe in time)."),
        # This server's own aggregate (a federated one, with the district's `monitor` label, is
        # alerted on by that district's server), or a federated district server that does not
        # answer: everything below it is unseen, so it counts as cut off.
        Alert("SiteUnreachable",
              f'site:reachable:max{{monitor=""}} == 0 or max by ({SITE_LABELS}) (up{{job="federate"}}) == 0',
              down, "critical",
              "Site {{ $labels.site }} is unreachable",
              "No host and no router of {{ $labels.site }} ({{ $labels.level }}) answers, or its own "
              "monitoring server does not: the site is cut off or without power."),
        Alert("WanLinkDown", 'probe_success{job="icmp_link"} == 0', down, "warning",
              "WAN link {{ $labels.instance }} is down",
              "The {{ $labels.router }} end of the link to {{ $labels.peer }} does not answer ping."),
        Alert("CertificateExpiringSoon",
              f'probe_ssl_earliest_cert_expiry{{job="blackbox_tls"}} - time() < {days} * 86400', "10m", "warning",
              f"Certificate of {{{{ $labels.endpoint }}}} expires within {days} days",
              "The certificate served at {{ $labels.endpoint }} expires in "
              "{{ $value | humanizeDuration }}; renew it."),
        Alert("PublicCertificateExpiringSoon",
              f'probe_ssl_earliest_cert_expiry{{role="public_endpoint"}} - time() < {days} * 86400', "10m",
              "warning",
              f"Certificate of {{{{ $labels.instance }}}} expires within {days} days",
              "The certificate of public endpoint {{ $labels.instance }} expires in "
              "{{ $value | humanizeDuration }}; renew it."),
        Alert("CertificateExpiryImminent", f"probe_ssl_earliest_cert_expiry - time() < {soon} * 86400", "5m",
              "critical",
              "Certificate of {{ if $labels.endpoint }}{{ $labels.endpoint }}{{ else }}{{ $labels.instance }}{{ end }}"
              f" has expired or expires within {soon} days",
              "{{ $value | humanizeDuration }} left (negative: expired); clients refuse it. Renew it now."),
        Alert("DiskFilling",
              f"node_filesystem_avail_bytes{{{FS}}} / node_filesystem_size_bytes "
              f"< {settings.disk_free_ratio} and predict_linear(node_filesystem_avail_bytes"
              f"{{{FS}}}[6h], 24 * 3600) < 0", "30m", "warning",
              "Disk {{ $labels.mountpoint }} on {{ $labels.instance }} fills up within a day",
              "{{ $labels.mountpoint }} has {{ $value | humanizePercentage }} free and is predicted to be full "
              "within 24 h."),
        Alert("DiskAlmostFull",
              f"node_filesystem_avail_bytes{{{FS}}} / node_filesystem_size_bytes "
              f"< {settings.disk_critical_ratio}", "5m", "critical",
              "Disk {{ $labels.mountpoint }} on {{ $labels.instance }} is almost full",
              "{{ $labels.mountpoint }} has only {{ $value | humanizePercentage }} free."),
        Alert("PostgresDown", "pg_up == 0", "2m", "warning",
              "PostgreSQL on {{ $labels.instance }} is down",
              "postgres_exporter answers but cannot query PostgreSQL on {{ $labels.instance }}."),
        # pg_replication_status_is_primary stops with PostgreSQL: the last hour says who was primary
        Alert("DatabasePrimaryDown",
              '(pg_up == 0 or up{job="postgres"} == 0) '
              "and on (instance) max_over_time(pg_replication_status_is_primary[1h]) == 1", "2m", "critical",
              "The primary database {{ $labels.instance }} is down",
              "PostgreSQL on the primary {{ $labels.instance }} does not answer: the applications cannot write. "
              "A replica does not take over by itself."),
        Alert("DatabaseReplicationLag", f"pg_replication_replay_lag_seconds > {lag}", "5m", "warning",
              "Replica {{ $labels.application_name }} lags behind {{ $labels.instance }}",
              "Replay lag of {{ $labels.application_name }} is {{ $value | humanizeDuration }}."),
        Alert("DatabaseReplicaMissing",
              "pg_replication_status_replicas < 1 and pg_replication_status_is_primary == 1", "5m", "warning",
              "Primary {{ $labels.instance }} has no streaming replica",
              "No replica is streaming from {{ $labels.instance }}: the database has no N+1."),
        # `instance` is the application's host: the host's own alerts inhibit it
        Alert("AppInstanceDown", 'probe_success{job="blackbox_app"} == 0', "2m", "warning",
              "Application {{ $labels.app }} on {{ $labels.instance }} is unhealthy",
              "The health endpoint {{ $labels.url }} fails or answers an error; the load balancer serves "
              "from the other hosts."),
        Alert("DocExchangeUnreachable", 'probe_success{job="blackbox_docexchange"} == 0', "10m", "warning",
              "The document-exchange platform is unreachable",
              "{{ $labels.url }} does not answer from the monitoring server: documents queue up."),
        Alert("RouterConfigDrift", "egov_router_config_drift_lines > 0", "1h", "warning",
              "Router {{ $labels.router }} differs from its intended configuration",
              "{{ $value }} lines differ between running and intended; run `egov net diff --limit "
              "{{ $labels.router }}`."),
        Alert("EgovCollectorFailing", "egov_collector_up == 0", "30m", "warning",
              "egov exporter collector {{ $labels.collector }} fails on {{ $labels.instance }}",
              "The background collector {{ $labels.collector }} has not succeeded for 30 minutes: its series "
              "are missing."),
    ]


def node_alerts(settings: Settings) -> list[Alert]:
    """Host resources, after the node-mixin (thresholds of its defaults)."""
    free = settings.disk_free_ratio
    files = f"node_filesystem_files_free{{{FS}}} / node_filesystem_files"
    return [
        Alert("FilesystemInodesFilling",
              f"{files} < {free} and predict_linear(node_filesystem_files_free{{{FS}}}[6h], 24 * 3600) < 0",
              "1h", "warning",
              "File system {{ $labels.mountpoint }} on {{ $labels.instance }} runs out of inodes within a day",
              "{{ $labels.mountpoint }} has {{ $value | humanizePercentage }} of its inodes left and is predicted "
              "to run out within 24 h."),
        Alert("FilesystemInodesAlmostExhausted", f"{files} < {settings.disk_critical_ratio}", "5m", "critical",
              "File system {{ $labels.mountpoint }} on {{ $labels.instance }} has almost no inodes left",
              "Only {{ $value | humanizePercentage }} of the inodes of {{ $labels.mountpoint }} are free: "
              "new files fail."),
        Alert("FilesystemReadOnly", f"node_filesystem_readonly{{{FS}}} == 1", "5m", "warning",
              "File system {{ $labels.mountpoint }} on {{ $labels.instance }} is read-only",
              "{{ $labels.mountpoint }} ({{ $labels.device }}) is mounted read-only, usually remounted after "
              "I/O errors: writes fail."),
        Alert("ClockNotSynchronising",
              "min_over_time(node_timex_sync_status[5m]) == 0 and node_timex_maxerror_seconds >= 16", "10m",
              "warning",
              "The clock of {{ $labels.instance }} is not synchronised",
              "The kernel reports no NTP synchronisation on {{ $labels.instance }}: TLS, logs and Kerberos "
              "drift. Check chrony and the site's NTP servers."),
        Alert("ClockSkew",
              "(node_timex_offset_seconds > 0.05 and deriv(node_timex_offset_seconds[5m]) >= 0) "
              "or (node_timex_offset_seconds < -0.05 and deriv(node_timex_offset_seconds[5m]) <= 0)", "10m",
              "warning",
              "The clock of {{ $labels.instance }} is off by more than 50 ms",
              "The clock of {{ $labels.instance }} is {{ $value | humanizeDuration }} off and not converging."),
        Alert("MemoryLow", "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.1", "15m", "warning",
              "{{ $labels.instance }} is short of memory",
              "Only {{ $value | humanizePercentage }} of the memory of {{ $labels.instance }} is available."),
        Alert("OomKill", "increase(node_vmstat_oom_kill[10m]) > 0", "0m", "warning",
              "The kernel killed a process on {{ $labels.instance }} for lack of memory",
              "{{ $value | humanize }} OOM kills on {{ $labels.instance }} in the last 10 minutes."),
        Alert("SystemdUnitFailed", 'node_systemd_unit_state{state="failed"} == 1', "15m", "warning",
              "Unit {{ $labels.name }} failed on {{ $labels.instance }}",
              "systemd reports {{ $labels.name }} failed on {{ $labels.instance }}: "
              "`systemctl status {{ $labels.name }}`."),
        Alert("NetworkInterfaceErrors",
              "rate(node_network_receive_errs_total[5m]) / rate(node_network_receive_packets_total[5m]) > 0.01 "
              "or rate(node_network_transmit_errs_total[5m]) / rate(node_network_transmit_packets_total[5m]) "
              "> 0.01", "1h", "warning",
              "Interface {{ $labels.device }} of {{ $labels.instance }} has errors",
              "{{ $value | humanizePercentage }} of the packets of {{ $labels.device }} fail: cabling, duplex "
              "or a failing NIC."),
        Alert("ConntrackTableFilling", "node_nf_conntrack_entries / node_nf_conntrack_entries_limit > 0.75",
              "15m", "warning",
              "The connection-tracking table of {{ $labels.instance }} is filling",
              "{{ $value | humanizePercentage }} of the conntrack table is used: new connections will be dropped."),
        Alert("FileDescriptorLimit", "node_filefd_allocated / node_filefd_maximum > 0.7", "15m", "warning",
              "{{ $labels.instance }} uses most of the kernel's file handles",
              "{{ $value | humanizePercentage }} of fs.file-max is allocated: opening files and sockets will fail."),
        # 30m, not the mixin's 15m: a first deploy of a host runs apt at full CPU for longer than 15m
        Alert("CpuHighUsage",
              'sum without (mode) (avg without (cpu) (rate(node_cpu_seconds_total{mode!~"idle|iowait"}[5m]))) '
              "> 0.9", "30m", "warning",
              "The CPUs of {{ $labels.instance }} are busy",
              "{{ $value | humanizePercentage }} of the CPU time of {{ $labels.instance }} has been busy for "
              "30 minutes."),
        Alert("SystemSaturation",
              'node_load1 / count without (cpu, mode) (node_cpu_seconds_total{mode="idle"}) > 2', "30m", "warning",
              "{{ $labels.instance }} is saturated",
              "The load per core of {{ $labels.instance }} is {{ $value | humanize }} (above 2 for 30 minutes): "
              "work waits for CPU or disk and the host answers slowly."),
        Alert("MemoryMajorPageFaults", "rate(node_vmstat_pgmajfault[5m]) > 500", "15m", "warning",
              "{{ $labels.instance }} reads memory pages back from disk",
              "{{ $value | humanize }} major page faults a second on {{ $labels.instance }}: it is short of "
              "memory and thrashing."),
        Alert("DiskIOSaturation", "rate(node_disk_io_time_weighted_seconds_total[5m]) > 10", "30m", "warning",
              "Disk {{ $labels.device }} of {{ $labels.instance }} is saturated",
              "The I/O queue of {{ $labels.device }} averages {{ $value | humanize }} requests (above 10 for "
              "30 minutes): I/O waits."),
        # a unit restarting every few seconds never reaches "failed" (its start limit is not hit)
        Alert("SystemdServiceCrashlooping", "increase(node_systemd_service_restart_total[5m]) > 2", "15m",
              "warning",
              "Service {{ $labels.name }} keeps restarting on {{ $labels.instance }}",
              "systemd restarted {{ $labels.name }} {{ $value | humanize }} times in 5 minutes: "
              "`journalctl -u {{ $labels.name }}`."),
        Alert("TextfileCollectorScrapeError", "node_textfile_scrape_error == 1", "15m", "warning",
              "node_exporter cannot read a metrics file on {{ $labels.instance }}",
              "A file in node_exporter's textfile directory does not parse: its series are missing."),
        Alert("NetworkInterfaceFlapping", 'changes(node_network_up{device!~"veth.+"}[5m]) > 2', "10m",
              "warning",
              "Interface {{ $labels.device }} of {{ $labels.instance }} goes up and down",
              "{{ $labels.device }} changed state {{ $value | humanize }} times in 5 minutes: cabling, the switch "
              "port or the NIC."),
    ]


def self_alerts(settings: Settings) -> list[Alert]:
    """Monitoring watching itself (the Prometheus and Alertmanager mixins' alerts that apply here)."""
    down = settings.host_down_for
    return [
        Alert("Watchdog", "vector(1)", "0m", "none",
              "The alerting pipeline works",
              "Always firing while Prometheus evaluates its rules and Alertmanager delivers: the dead man's "
              "switch pages when its repeats stop."),
        # max_over_time: a failed scrape must not hide a failed reload
        Alert("PrometheusConfigReloadFailing",
              'max_over_time(prometheus_config_last_reload_successful{job="prometheus"}[5m]) == 0', "10m",
              "critical",
              "Prometheus {{ $labels.instance }} failed to reload its configuration",
              "It runs on its previous configuration; the next restart fails. `promtool check config`."),
        Alert("AlertmanagerConfigReloadFailing",
              'max_over_time(alertmanager_config_last_reload_successful{job="alertmanager"}[5m]) == 0', "10m",
              "critical",
              "Alertmanager {{ $labels.instance }} failed to reload its configuration",
              "It routes with its previous configuration; the next restart fails. `amtool check-config`."),
        Alert("PrometheusRuleFailures", "increase(prometheus_rule_evaluation_failures_total[5m]) > 0", "15m",
              "critical",
              "Prometheus {{ $labels.instance }} fails to evaluate rules",
              "{{ $value | humanize }} evaluations of group {{ $labels.rule_group }} failed in 5 minutes: those "
              "alerts cannot fire."),
        Alert("PrometheusMissingRuleEvaluations", "increase(prometheus_rule_group_iterations_missed_total[5m]) > 0",
              "15m", "warning",
              "Prometheus {{ $labels.instance }} misses rule evaluations",
              "Group {{ $labels.rule_group }} takes longer than its interval: alerts come late."),
        Alert("PrometheusNotificationQueueRunningFull",
              "predict_linear(prometheus_notifications_queue_length[5m], 30 * 60) "
              "> min_over_time(prometheus_notifications_queue_capacity[5m])", "15m", "warning",
              "The alert queue of Prometheus {{ $labels.instance }} fills up",
              "It is predicted to be full within 30 minutes; alerts are then dropped."),
        Alert("PrometheusAlertsNotDelivered",
              "rate(prometheus_notifications_errors_total[5m]) / rate(prometheus_notifications_sent_total[5m]) "
              "> 0.01 or increase(prometheus_notifications_dropped_total[5m]) > 0", "15m", "critical",
              "Prometheus {{ $labels.instance }} fails to hand alerts to Alertmanager",
              "{{ $value | humanizePercentage }} of the alerts sent to {{ $labels.alertmanager }} fail, or alerts "
              "are dropped."),
        Alert("PrometheusNotConnectedToAlertmanagers",
              "max_over_time(prometheus_notifications_alertmanagers_discovered[5m]) < 1", "10m", "critical",
              "Prometheus {{ $labels.instance }} has no Alertmanager",
              "Its alerts go nowhere; the province server sees this through federation."),
        Alert("PrometheusTSDBFailing",
              "increase(prometheus_tsdb_reloads_failures_total[3h]) > 0 "
              "or increase(prometheus_tsdb_compactions_failed_total[3h]) > 0 "
              "or increase(prometheus_tsdb_wal_corruptions_total[3h]) > 0 "
              "or increase(prometheus_tsdb_wal_writes_failed_total[1h]) > 0", "15m", "warning",
              "The storage of Prometheus {{ $labels.instance }} has errors",
              "Block reloads, compactions or WAL writes fail: samples may be lost; check its disk."),
        Alert("AlertmanagerNotificationsFailing",
              "rate(alertmanager_notifications_failed_total[5m]) / rate(alertmanager_notifications_total[5m]) "
              "> 0.01", "5m", "critical",
              "Alertmanager {{ $labels.instance }} fails to send {{ $labels.integration }} notifications",
              "{{ $value | humanizePercentage }} of its {{ $labels.integration }} notifications fail: pages "
              "do not arrive."),
        Alert("AlertmanagerDown", 'up{job="alertmanager"} == 0', down, "critical",
              "Alertmanager {{ $labels.instance }} is down",
              "Prometheus cannot reach Alertmanager on {{ $labels.instance }}: no page leaves through it."),
        Alert("BlackboxExporterDown", 'up{job="blackbox"} == 0', down, "critical",
              "blackbox_exporter on {{ $labels.instance }} is down",
              "Every WAN and public-endpoint probe of this server stops: routers, links and sites are unseen."),
    ]


def _failing_or_absent(series: str, by: str) -> str:
    """Every ``series`` at 0, or none at all, on one label set (``by``, which absent() derives
    from the selector's matchers): the alert keeps its state when the evidence disappears."""
    return f"max by ({by}) ({series}) == 0 or absent({series})"


def _selector(metric: str, **labels: str) -> str:
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def expected_alerts(settings: Settings, expected: Expected) -> list[Alert]:
    """One staleness-aware rule per series the inventory says must exist."""
    down, hours = settings.host_down_for, settings.backup_max_age_hours
    out: list[Alert] = []
    for router, labels in expected.routers:
        series = _selector("probe_success", job="icmp_router", instance=router)
        out.append(Alert("RouterUnreachable", _failing_or_absent(series, "job, instance"), down,
                         "warning", f"Router {router} at {labels['site']} does not answer ping",
                         f"ICMP to the loopback of {router} fails from the monitoring server, or is not probed.",
                         {**labels, "role": "router", "instance": router}))
    for job, name, labels in expected.endpoints:
        series = _selector("probe_success", job=job, instance=name)
        out.append(Alert("PublicEndpointDown", _failing_or_absent(series, "job, instance"),
                         down, "critical", f"Public endpoint {name} fails its probe",
                         f"The blackbox probe ({job}) of {name} fails, or is not run.", {**labels, "instance": name}))
    for app, labels in expected.apps:
        series = _selector("probe_success", job="blackbox_app", app=app)
        out.append(Alert("AppDown", _failing_or_absent(series, "job, app"), "2m", "critical",
                         f"Application {app} is down on every host",
                         f"No health endpoint of {app} answers, or none is reported: users cannot use it.",
                         {**labels, "app": app}))
    for endpoint, labels in expected.tls:
        series = _selector("probe_success", job="blackbox_tls", endpoint=endpoint)
        out.append(Alert("TlsHandshakeFailing", _failing_or_absent(series, "job, endpoint"), "5m",
                         "warning", f"TLS on {endpoint} fails",
                         f"No TLS handshake with {endpoint} (or no report of one): its certificate is unknown.",
                         {**labels, "endpoint": endpoint}))
    for host, database, labels in expected.backups:
        series = _selector("egov_backup_last_success_timestamp_seconds", instance=host, database=database)
        expr = (f"max by (instance, database) (time() - {series}) > {hours} * 3600 "
                f"or absent({series}) * Inf")
        out.append(Alert("BackupTooOld", expr, "10m", "critical",
                         f"No good backup of {database} for more than {hours} h",
                         f"The last good backup of {database} on {host} is {{{{ $value | humanizeDuration }}}} "
                         "old (+Inf: no backup status is reported at all).",
                         {**labels, "instance": host, "database": database}))
    return out


def _rule(alert: Alert, settings: Settings) -> dict[str, Any]:
    return {
        "alert": alert.name,
        "expr": alert.expr,
        "for": alert.duration,
        "labels": {"severity": alert.severity, **alert.labels},
        "annotations": {"summary": alert.summary, "description": alert.description,
                        "runbook_url": settings.runbook_base + alert.name.lower()},
    }


def rule_groups(settings: Settings, expected: Expected | None = None) -> dict[str, Any]:
    """The rules file of one server: the aggregates, then the alerts (``expected``: what its
    inventory says it must see)."""
    groups: list[dict[str, Any]] = [
        {"name": "egov-aggregates", "interval": settings.evaluation_interval, "rules": recording_rules()}]
    for name, catalogue in (("egov-alerts", alerts(settings)), ("egov-node", node_alerts(settings)),
                            ("egov-self", self_alerts(settings)),
                            ("egov-expected", expected_alerts(settings, expected or Expected()))):
        if catalogue:
            groups.append({"name": name, "rules": [_rule(alert, settings) for alert in catalogue]})
    return {"groups": groups}
