"""The egov exporter: what no stock exporter knows about the platform.

Metrics (Prometheus naming: ``egov_`` prefix, base units in the name):

    egov_app_up{app,target,url}                         1 when the health endpoint answers 2xx
    egov_app_health_latency_seconds{app,target,url}     time of the last health request
    egov_tls_up{endpoint}                               1 when a TLS handshake got a certificate
    egov_tls_certificate_expiry_timestamp_seconds{endpoint}  notAfter of the served certificate
    egov_backup_last_success_timestamp_seconds{database}     end of the last good backup
    egov_backup_last_size_bytes{database}
    egov_docexchange_up{url}, egov_docexchange_latency_seconds{url}
    egov_router_config_drift_lines{router}              lines that differ, running vs intended
    egov_collector_up{collector}, egov_collector_duration_seconds{collector},
    egov_collector_last_success_timestamp_seconds{collector}

Slow sources (HTTP, TLS, router drift) run in background threads on an interval and leave
their last result in a cache; a scrape only reads the cache and the backup status file, so it
never waits on the network and never logs into a router. Metric families are built fresh on
every scrape. Sources are injected (plain callables), so tests feed fixtures.

Modules: ``config`` (the configuration file), ``sources`` (what is read), ``cache`` (the
background pollers and their last results), ``collector`` (the metric families of a scrape),
``server`` (wiring and the HTTP endpoint), ``__main__`` (``python3 -m monitoring.exporter``).

This package is shipped on its own to the hosts that run it (with ``egov/errors.py``): it needs
only the standard library, prometheus_client, PyYAML and cryptography (all Debian packages).
"""
