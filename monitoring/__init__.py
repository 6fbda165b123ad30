"""Monitoring derived from the inventory: Prometheus, Alertmanager and blackbox configuration,
alert and recording rules, the egov exporter and the on-call status view.

Submodules are imported where needed; ``monitoring.exporter`` in particular is also shipped on
its own to the hosts that run the exporter, so this package must stay free of heavy imports.
"""
