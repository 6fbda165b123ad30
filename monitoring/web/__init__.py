"""The on-call web page: the province's WAN as a live map, served by the top-level monitoring host.

``topology`` lays the map out from the inventory; ``site`` lists the page's files (``static/``,
docs/monitoring.md for the runbooks, and the generated ``page.json``) that ``deploys/monitoring.py``
installs behind nginx. The page asks Prometheus and Alertmanager itself,
through read-only paths of the same nginx, so nothing but nginx runs for it on the host.
"""
