"""Workflows that string several layers together (``egov node up``: deploy, network, register,
verify). They sit above the layers, which never import one another; ``commands/`` calls them."""
