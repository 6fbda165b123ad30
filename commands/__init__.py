"""The click command groups of ``egov``; the only modules besides cli.py that import click."""
