"""Settings of the peer Django project, read only from environment variables named after Django's settings.

Required: SECRET_KEY, DATABASE_URL (postgres://user[:password]@host:port/dbname).
Optional: SECRET_KEY_FALLBACKS (a JSON list if it starts with "[", else comma-separated), REDIS_URL,
CACHE_BACKEND, CACHE_KEY_PREFIX, CACHE_VERSION, CACHE_PICKLE_VERSION (django-redis' OPTIONS["PICKLE_VERSION"]),
SESSION_ENGINE (cache, cached_db, db, signed_cookies or a dotted path), SESSION_COOKIE_AGE, SESSION_COOKIE_NAME,
SESSION_EXPIRE_AT_BROWSER_CLOSE, TIME_ZONE, PASSWORD_HASHERS, DEFAULT_AUTO_FIELD, AUTH_USER_MODEL ("auth.User",
the default, "emailusers.User" or "bigusers.User"; the last two need Django >= 5.0), AUTHENTICATION_BACKENDS
(same list format).
"""

import json
import os
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def required(name):
    value = os.environ.get(name)
    if not value:
        raise ImproperlyConfigured(f"the peer Django project needs the environment variable {name}")
    return value


def boolean(name, default):
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def key_list(value, name="SECRET_KEY_FALLBACKS"):
    value = value.strip()
    if not value:
        return []
    if value.startswith("["):
        keys = json.loads(value)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ImproperlyConfigured(f"{name} must be a JSON list of strings")
        return keys
    return [key for key in value.split(",") if key]


def database(url):
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(f"DATABASE_URL must be postgres://…, not {url!r}")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("DATABASE_URL names no database")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


# AUTH_USER_MODEL -> the app that defines it (None: Django's own, in django.contrib.auth).
USER_MODELS = {"auth.User": None, "emailusers.User": "emailusers", "bigusers.User": "bigusers"}

SESSION_ENGINES = {
    name: f"django.contrib.sessions.backends.{name}" for name in ("cache", "cached_db", "db", "signed_cookies")
}

SECRET_KEY = required("SECRET_KEY")
SECRET_KEY_FALLBACKS = key_list(os.environ.get("SECRET_KEY_FALLBACKS", ""))
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "peerapp",
]

# Django's own user, or one of this project's two custom ones (README.md, "User models"); their app goes right
# after django.contrib.auth.
AUTH_USER_MODEL = os.environ.get("AUTH_USER_MODEL") or "auth.User"
if AUTH_USER_MODEL not in USER_MODELS:
    raise ImproperlyConfigured(f"AUTH_USER_MODEL must be one of {', '.join(USER_MODELS)}, not {AUTH_USER_MODEL!r}")
if USER_MODELS[AUTH_USER_MODEL]:
    import django

    if django.VERSION < (5, 0):
        raise ImproperlyConfigured(f"AUTH_USER_MODEL={AUTH_USER_MODEL}: the custom user models need Django >= 5.0")
    INSTALLED_APPS.insert(INSTALLED_APPS.index("django.contrib.auth") + 1, USER_MODELS[AUTH_USER_MODEL])
if os.environ.get("AUTHENTICATION_BACKENDS"):
    AUTHENTICATION_BACKENDS = key_list(os.environ["AUTHENTICATION_BACKENDS"], "AUTHENTICATION_BACKENDS")

MIDDLEWARE = []
DATABASES = {"default": database(required("DATABASE_URL"))}
# What `startproject` writes; it decides the type of django_migrations.id (bigint), the one table Django
# creates outside any migration.
DEFAULT_AUTO_FIELD = os.environ.get("DEFAULT_AUTO_FIELD", "django.db.models.BigAutoField")

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": os.environ.get("CACHE_BACKEND") or "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", ""),
            "VERSION": int(os.environ.get("CACHE_VERSION") or 1),
        }
    }
    # django-redis' pickle protocol (its PickleSerializer's PICKLE_VERSION; unset: pickle.DEFAULT_PROTOCOL).
    if os.environ.get("CACHE_PICKLE_VERSION"):
        if CACHES["default"]["BACKEND"] != "django_redis.cache.RedisCache":
            raise ImproperlyConfigured("CACHE_PICKLE_VERSION is django-redis' OPTIONS['PICKLE_VERSION']")
        CACHES["default"]["OPTIONS"] = {"PICKLE_VERSION": int(os.environ["CACHE_PICKLE_VERSION"])}
    # Redis Sentinel as django-redis' README sets it up: REDIS_URL names the service (redis://mymaster/0).
    if os.environ.get("REDIS_SENTINELS"):
        if CACHES["default"]["BACKEND"] != "django_redis.cache.RedisCache":
            raise ImproperlyConfigured("REDIS_SENTINELS needs CACHE_BACKEND=django_redis.cache.RedisCache")
        sentinels = []
        for item in os.environ["REDIS_SENTINELS"].split(","):
            host, _, port = item.strip().rpartition(":")
            sentinels.append((host, int(port)))
        CACHES["default"].setdefault("OPTIONS", {}).update({
            "CLIENT_CLASS": "django_redis.client.SentinelClient",
            "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
            "CONNECTION_POOL_CLASS": "redis.sentinel.SentinelConnectionPool",
            "SENTINELS": sentinels,
            "SENTINEL_KWARGS": (
                {"password": os.environ["REDIS_SENTINEL_PASSWORD"]}
                if os.environ.get("REDIS_SENTINEL_PASSWORD") else {}
            ),
        })
elif os.environ.get("CACHE_BACKEND"):
    raise ImproperlyConfigured("CACHE_BACKEND needs REDIS_URL")

_engine = os.environ.get("SESSION_ENGINE") or "db"
SESSION_ENGINE = SESSION_ENGINES.get(_engine, _engine)
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE") or 1209600)
SESSION_COOKIE_NAME = os.environ.get("SESSION_COOKIE_NAME") or "sessionid"
SESSION_EXPIRE_AT_BROWSER_CLOSE = boolean("SESSION_EXPIRE_AT_BROWSER_CLOSE", False)

TIME_ZONE = os.environ.get("TIME_ZONE") or "UTC"
USE_TZ = True

# Django's default list unless the environment names one (same format as SECRET_KEY_FALLBACKS).
if os.environ.get("PASSWORD_HASHERS"):
    PASSWORD_HASHERS = key_list(os.environ["PASSWORD_HASHERS"], "PASSWORD_HASHERS")
