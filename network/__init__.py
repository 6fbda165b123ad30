"""The WAN: render each router's configuration from the inventory, diff it against the device,
push it safely (backup, remediation only, lock-out guard, post-checks, restore, save), roll back
and check. See docs/network.md.

Modules: ``context`` (inventory -> template data), ``render`` (templates/network/<platform>/),
``drivers`` (a package: ``base``, ``scope`` (what the toolkit owns) and one module per platform,
dispatched by ``DRIVERS``), ``guard`` (lock-out, over what is sent), ``archive`` (backups),
``session`` (SSH), ``push`` (diff live and offline, push, backup, rollback, check), ``drift`` (drift
figures for the egov exporter).
"""
