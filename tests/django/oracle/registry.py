"""Django settings for the oracle, and the table of operations."""

import django
from django.conf import settings

# The same constants as ../shared/django-wire-formats.md; each request may override any of them.
settings.configure(
    SECRET_KEY="django-insecure-test-secret-key-0123456789",
    SECRET_KEY_FALLBACKS=["old-secret-key-1"],
    USE_TZ=True,
    TIME_ZONE="UTC",
    INSTALLED_APPS=[
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "django.contrib.sessions",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
    ],
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
)
django.setup()

OPS = {}


def op(name):
    """Register a function as the handler of operation ``name``."""

    def register(function):
        OPS[name] = function
        return function

    return register


def unhex(value):
    return bytes.fromhex(value)
