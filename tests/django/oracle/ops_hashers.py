"""Password hashers (django.contrib.auth.hashers)."""

from .registry import op  # noqa: F401

