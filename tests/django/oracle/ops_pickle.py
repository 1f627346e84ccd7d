"""Pickle: what Django's cache backends write and read."""

from .registry import op  # noqa: F401

