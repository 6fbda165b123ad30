"""The egov exporter: what no stock exporter knows about the platform.

Metrics (Prometheus naming: ``egov_`` prefix, base units in the name):

    egov_backup_last_success_timestamp_seconds{database}     end of the last good backup
    egov_backup_last_size_bytes{database}
    egov_router_config_drift_lines{router,site,level,zone}    lines that differ, running vs intended
                                                             (labels: the router's own place)
    egov_collector_up{collector}, egov_collector_duration_seconds{collector},
    egov_collector_last_success_timestamp_seconds{collector}
    egov_exporter_build_info{revision,python_version}        revision: sha1 of the shipped modules
    process_*, python_info                                   prometheus_client's own collectors

A failed collector drops its series: nothing stale is served as current, and the alert rules
see the gap (``egov_collector_up`` 0, the last success timestamp standing still). HTTP health,
TLS certificates and the document-exchange platform are probed by blackbox_exporter (the
multi-target pattern: ``monitoring.config.probe_jobs``), not here.

Sources (the backup status file, the router drift file or a drift callable) run in background
pollers on an interval and leave their last outcome in a cache; a scrape only reads the cache,
so it never waits on a source. Metric families are built fresh on every scrape. Sources are
injected (plain callables), so tests feed fixtures.

Modules: ``config`` (the configuration file), ``sources`` (what is read), ``cache`` (the
background pollers and their last outcomes), ``collector`` (the metric families of a scrape),
``server`` (wiring and the HTTP endpoint), ``__main__`` (``python3 -m monitoring.exporter``).

This package is shipped on its own to the hosts that run it (with ``egov/errors.py``): it needs
only the standard library, prometheus_client and PyYAML (Debian packages).
"""
