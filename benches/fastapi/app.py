"""The FastAPI reference of `make bench`: the seed's FastAPI api, done properly, answering `GET /api/v1/me`.

It makes the checks the Rust `api` makes, so the load bench compares like with like:

- `ALLOWED_HOSTS` (exact names and `.example.com` suffixes) on the Host header;
- the session cookie (`SESSION_COOKIE_NAME`), 8 to 40 characters of `[a-z0-9]` as Django's engines make;
- one Redis `GET` of Django's cache-engine key, `<CACHE_KEY_PREFIX>:<CACHE_VERSION>:django.contrib.sessions
  .cache<session key>` (expiry is the key's TTL, as with Django's cache engine), the value read as Django's
  `RedisCache` serializer writes it (an integer as digits, anything else pickled). The pickle is read by an
  `Unpickler` whose `find_class` refuses every global, so nothing Redis holds is ever imported or called;
  a session of strings, numbers and dicts needs none;
- `django.contrib.auth.get_user`: `_auth_user_id`, `_auth_user_backend` in `AUTHENTICATION_BACKENDS`, the
  `auth_user` row by primary key (asyncpg pool), `is_active` (`ModelBackend.user_can_authenticate`), and
  `_auth_user_hash` against `salted_hmac(<get_session_auth_hash's salt>, password, secret=key,
  algorithm="sha256").hexdigest()` under `SECRET_KEY`, then each of `SECRET_KEY_FALLBACKS`, compared with
  `hmac.compare_digest`. A mismatch flushes the session (deletes the key), as Django does. (A fallback
  match authenticates; Django then also cycles the key and rewrites the hash, which the benchmark's
  sessions, made under `SECRET_KEY`, never need, so it is left out here.)

Nothing is cached between requests: each one reads the session and the user afresh, so a logout, a
password change or a deactivation is seen by the next request, as with the Rust api.

Settings come from the same environment variables as the Rust services (Django's names). No Django is
imported: this is a standalone FastAPI app, as the seed's was.
"""

import hashlib
import hmac
import io
import json
import os
import pickle
import re
from contextlib import asynccontextmanager
from datetime import timezone

import asyncpg
import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def _list(name, default):
    """A JSON array (`["a","b"]`) or a comma-separated list, as the Rust settings read them."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if value.startswith("["):
        items = json.loads(value)
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise SystemExit(f"{name} must be a JSON array of strings")
        return items
    return [item.strip() for item in value.split(",") if item.strip()]


def _required(name):
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"the FastAPI reference needs {name}")
    return value


SECRET_KEY = _required("SECRET_KEY")
SECRET_KEY_FALLBACKS = _list("SECRET_KEY_FALLBACKS", [])
AUTHENTICATION_BACKENDS = frozenset(
    _list("AUTHENTICATION_BACKENDS", ["django.contrib.auth.backends.ModelBackend"])
)
ALLOWED_HOSTS = [host.lower() for host in _list("ALLOWED_HOSTS", [])]
SESSION_COOKIE_NAME = os.environ.get("SESSION_COOKIE_NAME") or "sessionid"
REDIS_URL = _required("REDIS_URL")
DATABASE_URL = _required("DATABASE_URL")
DATABASE_POOL_SIZE = int(os.environ.get("DATABASE_POOL_SIZE") or 10)
CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "")
CACHE_VERSION = int(os.environ.get("CACHE_VERSION") or 1)

# django.contrib.sessions.backends.cache.KEY_PREFIX, under the cache's default_key_func.
SESSION_CACHE_PREFIX = f"{CACHE_KEY_PREFIX}:{CACHE_VERSION}:django.contrib.sessions.cache"
SESSION_KEY_RE = re.compile(r"[a-z0-9]{8,40}")
# A session blob larger than this is not one Django wrote for a login.
MAX_SESSION_BYTES = 1 << 20

# AbstractBaseUser.get_session_auth_hash's salt. salted_hmac's key is sha256(salt + secret), derived once
# per secret here, as the Rust SessionAuthHasher does.
SESSION_AUTH_SALT = b"django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
HMAC_KEYS = [
    hashlib.sha256(SESSION_AUTH_SALT + secret.encode()).digest()
    for secret in [SECRET_KEY, *SECRET_KEY_FALLBACKS]
]

USER_QUERY = (
    "SELECT id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, "
    "is_active, date_joined FROM auth_user WHERE id = $1"
)

NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided."}


class _NoGlobals(pickle.Unpickler):
    """Reads pickled data only: every global (a class, a function) is refused, so nothing is executed."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"global {module}.{name} refused")


def session_from_redis(blob):
    """Django's RedisSerializer.loads, restricted: a dict, or None for anything else (Django treats an
    unreadable session as no session)."""
    if blob is None or len(blob) > MAX_SESSION_BYTES:
        return None
    try:
        int(blob)
        return None  # RedisSerializer stores a bare int as its digits: not a session.
    except ValueError:
        pass
    try:
        data = _NoGlobals(io.BytesIO(blob)).load()
    except Exception:
        return None
    return data if isinstance(data, dict) else None


def host_allowed(host):
    """django.http.request.validate_host on the Host header, without the port."""
    host = host.lower()
    if host.startswith("["):
        domain = host[: host.find("]") + 1]
    else:
        domain = host.rsplit(":", 1)[0]
    domain = domain.rstrip(".")
    if not domain:
        return False
    for pattern in ALLOWED_HOSTS:
        if pattern == "*" or pattern == domain:
            return True
        if pattern.startswith(".") and (domain.endswith(pattern) or domain == pattern[1:]):
            return True
    return False


def iso(value):
    """DRF's DateTimeField in UTC: ISO 8601 with microseconds and Z (as the Rust api's `iso`)."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@asynccontextmanager
async def lifespan(app):
    app.state.redis = aioredis.Redis.from_url(REDIS_URL)
    app.state.db = await asyncpg.create_pool(DATABASE_URL, min_size=1, max_size=DATABASE_POOL_SIZE)
    try:
        yield
    finally:
        await app.state.db.close()
        await app.state.redis.aclose()


app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/api/v1/me")
async def me(request: Request):
    if not host_allowed(request.headers.get("host", "")):
        return JSONResponse({"detail": "Bad Request (400)"}, status_code=400)
    session_key = request.cookies.get(SESSION_COOKIE_NAME)
    if not session_key or not SESSION_KEY_RE.fullmatch(session_key):
        return JSONResponse(NOT_AUTHENTICATED, status_code=401)
    cache_key = SESSION_CACHE_PREFIX + session_key
    session = session_from_redis(await request.app.state.redis.get(cache_key))
    if session is None:
        return JSONResponse(NOT_AUTHENTICATED, status_code=401)
    user_id = session.get("_auth_user_id")
    backend = session.get("_auth_user_backend")
    if user_id is None or backend is None:
        return JSONResponse(NOT_AUTHENTICATED, status_code=401)
    if backend not in AUTHENTICATION_BACKENDS:
        return JSONResponse(NOT_AUTHENTICATED, status_code=401)
    try:
        pk = int(user_id)
    except (TypeError, ValueError):
        return JSONResponse(NOT_AUTHENTICATED, status_code=401)
    if not -(2**31) <= pk < 2**31:  # auth_user.id is an integer column
        return JSONResponse(NOT_AUTHENTICATED, status_code=401)
    row = await request.app.state.db.fetchrow(USER_QUERY, pk)
    if row is None or not row["is_active"]:
        return JSONResponse(NOT_AUTHENTICATED, status_code=401)
    session_hash = session.get("_auth_user_hash")
    verified = False
    if isinstance(session_hash, str) and session_hash:
        password = row["password"].encode()
        given = session_hash.encode()
        verified = any(
            hmac.compare_digest(given, hmac.new(key, password, hashlib.sha256).hexdigest().encode())
            for key in HMAC_KEYS
        )
    if not verified:
        await request.app.state.redis.delete(cache_key)  # request.session.flush()
        return JSONResponse(NOT_AUTHENTICATED, status_code=401)
    return {
        "id": row["id"],
        "username": row["username"],
        "email": row["email"],
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "is_staff": row["is_staff"],
        "is_superuser": row["is_superuser"],
        "last_login": iso(row["last_login"]),
        "date_joined": iso(row["date_joined"]),
    }
