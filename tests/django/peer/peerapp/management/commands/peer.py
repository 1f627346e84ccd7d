"""``python manage.py peer``: the real Django side of the Rust integration tests.

Reads one JSON request per line on stdin, ``{"op": "...", "args": {...}}``, and writes one JSON line per request:
``{"ok": <result>}`` or ``{"error": "<ExceptionType>: <message>", "trace": "..."}``. Runs until EOF.

Values cross the boundary the way ``tests/django/oracle`` carries them: plain JSON (tuples become lists),
bytes as lowercase hex strings, datetimes as ISO 8601 strings (``isoformat()``). Sessions use Django's JSON
serializer, so session data is plain JSON already. Settings come from the environment only (peer/settings.py);
a request's ``settings`` must be absent or empty.

Each request runs like one HTTP request: ``close_old_connections()`` before and after it, as Django's
request_started/request_finished signals do (with CONN_MAX_AGE=0 that closes the connection after every
request), so the peer survives a database restart.

The user model is whichever ``AUTH_USER_MODEL`` names (``auth.User``, ``emailusers.User``, ``bigusers.User``):
a ``username`` argument is the value of its ``USERNAME_FIELD`` (the email for ``emailusers``), and a pk travels
as an int for integer keys, as ``str(pk)`` for UUID keys (``peerapp.users.pk_json``); ops taking a ``pk``
accept the string form too.
"""

import datetime
import io
import json
import sys
import traceback
from importlib import import_module

from django.core.management.base import BaseCommand

from peerapp.users import email_field_name, json_value, pk_json

OPS = {}


def op(name):
    def register(function):
        OPS[name] = function
        return function

    return register


def engine():
    from django.conf import settings

    return import_module(settings.SESSION_ENGINE)


def store(session_key=None):
    return engine().SessionStore(session_key=session_key)


def expiry_value(value):
    """``set_expiry``'s argument: an int, None, or an ISO string meaning a datetime (as the oracle's
    ``session.set_expiry``), or ``{"seconds": n}`` meaning a timedelta."""
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value)
    if isinstance(value, dict):
        return datetime.timedelta(seconds=value["seconds"])
    return value


def request_with(session):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.session = session
    return request


def spy_on(session):
    """Records the names of the session's ``flush`` and ``cycle_key`` calls (which still run) in the list
    it returns: how the tests see what ``get_user`` decided."""
    calls = []
    for name in ("flush", "cycle_key"):
        method = getattr(session, name)

        def spy(method=method, name=name):
            calls.append(name)
            return method()

        setattr(session, name, spy)
    return calls


def get_by_username(username):
    """The user whose ``USERNAME_FIELD`` is ``username`` (``get_by_natural_key``)."""
    from django.contrib.auth import get_user_model

    return get_user_model()._default_manager.get_by_natural_key(username)


def get_by_pk(pk):
    """The user with this pk; ``pk`` may be its JSON form (a string for a UUID or an integer key)."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    return User._default_manager.get(pk=User._meta.pk.to_python(pk))


# --- meta ------------------------------------------------------------------------------------------------


@op("version")
def version():
    import django

    return django.get_version()


@op("settings")
def settings_summary():
    """The settings the environment produced (for the test logs)."""
    from django.conf import settings

    return {
        "SESSION_ENGINE": settings.SESSION_ENGINE,
        "SESSION_COOKIE_AGE": settings.SESSION_COOKIE_AGE,
        "SESSION_EXPIRE_AT_BROWSER_CLOSE": settings.SESSION_EXPIRE_AT_BROWSER_CLOSE,
        "CACHES": settings.CACHES,
        "TIME_ZONE": settings.TIME_ZONE,
        "SECRET_KEY_FALLBACKS": len(settings.SECRET_KEY_FALLBACKS),
    }


# --- migrations ------------------------------------------------------------------------------------------


def plan():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes()
    return [[m.app_label, m.name] for m, backwards in executor.migration_plan(targets) if not backwards]


@op("migrate_plan")
def migrate_plan():
    """The (app, name) migrations ``migrate`` would apply now, in order; [] when there is nothing to do."""
    return plan()


@op("migrate")
def migrate():
    """Runs ``migrate`` (post_migrate handlers included); returns the migrations it applied."""
    from django.core.management import call_command

    applied = plan()
    call_command("migrate", interactive=False, verbosity=0, stdout=io.StringIO())
    return applied


# --- sessions --------------------------------------------------------------------------------------------


@op("session_create")
def session_create(data):
    """A new session holding ``data``, saved as the middleware saves a new one. For signed_cookies the
    session is the cookie, so ``session_key`` is the cookie value."""
    session = store()
    session.update(data)
    session.save()
    return {"session_key": session.session_key}


@op("session_load")
def session_load(session_key):
    """Django's load: ``data`` is what the session holds after loading (``{}`` when not found, expired or
    corrupt), ``found`` whether load found it, ``exists`` what ``SessionStore.exists(key)`` answers (db:
    the row is there, expired or not; cache: the key is in the cache; signed_cookies: always false)."""
    session = store(session_key)
    exists = bool(session.exists(session_key)) if session.session_key is not None else False
    data = dict(session._session)  # one load(), cached as Django caches it
    # load() drops the key on a miss (db/cache/cached_db); signed_cookies calls create() instead.
    found = session.session_key is not None and not session.modified
    return {
        "exists": exists,
        "found": found,
        "data": data,
        "expiry_age": session.get_expiry_age(),
        "expire_at_browser_close": session.get_expire_at_browser_close(),
        "session_key_after": session.session_key,
    }


@op("session_update")
def session_update(session_key, set=None, delete=None, delete_before_save=False):
    """Loads the session, sets ``set``, deletes the keys in ``delete`` and saves as the middleware does.
    ``{"interrupted": true}`` when ``save()`` raises UpdateError (the middleware's SessionInterrupted).
    ``delete_before_save`` deletes the stored session between load and save (a concurrent logout)."""
    from django.contrib.sessions.backends.base import UpdateError

    session = store(session_key)
    session._session  # noqa: B018  (load)
    for key, value in (set or {}).items():
        session[key] = value
    for key in delete or []:
        if key in session:
            del session[key]
    if delete_before_save:
        store(session_key).delete(session_key)
    try:
        session.save()
    except UpdateError:
        return {"interrupted": True}
    return {"ok": True, "session_key": session.session_key, "data": dict(session._session)}


@op("session_cycle_key")
def session_cycle_key(session_key):
    session = store(session_key)
    session.cycle_key()
    return {"session_key": session.session_key}


@op("session_flush")
def session_flush(session_key):
    session = store(session_key)
    session.flush()
    return {"session_key": session.session_key}


@op("session_exists")
def session_exists(session_key):
    return bool(store().exists(session_key))


@op("session_set_expiry")
def session_set_expiry(session_key, value):
    """``set_expiry(value)`` then ``save()``; value: int, null, ISO datetime string, or {"seconds": n}."""
    session = store(session_key)
    session.set_expiry(expiry_value(value))
    session.save()
    return {
        "session_key": session.session_key,
        "data": dict(session._session),
        "expiry_age": session.get_expiry_age(),
        "expiry_date": session.get_expiry_date().isoformat(),
    }


@op("reset")
def reset():
    """Every user and session deleted and the cache flushed, with Django's own calls: a shared deployment
    (the container suite's) made empty before a scenario, as a fresh one would be."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session
    from django.core.cache import caches
    from django.conf import settings

    get_user_model()._default_manager.all().delete()
    Session.objects.all().delete()
    if "default" in getattr(settings, "CACHES", {}):
        caches["default"].clear()
    return None


@op("clear_expired")
def clear_expired():
    engine().SessionStore.clear_expired()
    return None


@op("session_expire_row")
def session_expire_row(session_key, seconds_ago):
    """Moves the ``django_session`` row's ``expire_date`` to ``seconds_ago`` seconds in the past, leaving
    ``session_data`` alone: the session as it is once its time has passed (db and cached_db engines; the
    cached_db copy in the cache is left as it is). Returns the number of rows changed."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    when = timezone.now() - datetime.timedelta(seconds=seconds_ago)
    return Session.objects.filter(session_key=session_key).update(expire_date=when)


# --- the cache, as Redis holds it --------------------------------------------------------------------------


@op("raw_cache_get")
def raw_cache_get(key):
    """The bytes Redis holds under the full key ``key`` (hex, or null) and its PTTL (-2 missing, -1 none)."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        value = client.get(key)
        return {"hex": None if value is None else value.hex(), "pttl": client.pttl(key)}
    finally:
        client.close()


@op("raw_cache_set")
def raw_cache_set(key, hex, ttl_ms=None):
    """Writes the bytes ``hex`` under the full Redis key ``key`` (``PX ttl_ms`` when given), bypassing
    Django's serializer: how the tests put corrupt or hostile values where a session was."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.set(key, bytes.fromhex(hex), px=ttl_ms)
        return None
    finally:
        client.close()


class RunsCode:
    """Unpickling it runs ``os.system("touch <marker>")``: the classic hostile pickle, for the tests that
    prove the Rust side never runs what a pickle names (Python's unpickler would)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        import shlex

        return (os.system, ("touch " + shlex.quote(self.marker),))


@op("hostile_pickle")
def hostile_pickle(marker, session_key=None, protocol=5):
    """A pickle (hex, ``protocol`` as RedisCache's 5) that creates the file ``marker`` when Python
    unpickles it: the payload alone, or with ``session_key`` that session's dict as the cache holds it plus
    one more value, the payload (a session that would both run code and log its user in)."""
    import pickle

    if session_key is None:
        return pickle.dumps(RunsCode(marker), protocol=protocol).hex()
    data = dict(store(session_key)._session)
    if not data:
        raise ValueError("no such session")
    data["payload"] = RunsCode(marker)
    return pickle.dumps(data, protocol=protocol).hex()


@op("cache_key")
def cache_key(session_key):
    """The full Redis key Django's cache uses for this session: ``cache.make_key(store.cache_key)``."""
    from django.conf import settings
    from django.core.cache import caches

    session = store(session_key)
    if not hasattr(session, "cache_key"):
        raise ValueError(f"{settings.SESSION_ENGINE} keeps no session in the cache")
    return str(caches[settings.SESSION_CACHE_ALIAS].make_key(session.cache_key))


# --- users ---------------------------------------------------------------------------------------------------


@op("user_model")
def user_model():
    """What ``AUTH_USER_MODEL`` names: the model, its table, its pk's internal type (``AutoField``,
    ``BigAutoField``, ``UUIDField``), its ``USERNAME_FIELD`` and its email field (null when it has none)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    User = get_user_model()
    return {
        "model": settings.AUTH_USER_MODEL,
        "table": User._meta.db_table,
        "pk_type": User._meta.pk.get_internal_type(),
        "username_field": User.USERNAME_FIELD,
        "email_field": email_field_name(User),
    }


@op("create_user")
def create_user(username, password, email="", is_active=True, is_staff=False, is_superuser=False, hasher=None):
    """The manager's ``create_user(username, password=…, **fields)``, ``username`` being the value of the
    ``USERNAME_FIELD``; ``email`` goes to the email field when the model has one apart from the
    ``USERNAME_FIELD`` (else it is ignored), and each flag to the field of that name when the model has it.
    With ``hasher`` (an algorithm of PASSWORD_HASHERS, e.g. "argon2"), the password is then hashed with that
    one (``make_password(password, hasher=…)``), as a user made under another setting."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    User = get_user_model()
    names = {field.name for field in User._meta.concrete_fields}
    fields = {}
    email_field = email_field_name(User)
    if email_field is not None and email_field != User.USERNAME_FIELD:
        fields[email_field] = email
    for name, value in (("is_active", is_active), ("is_staff", is_staff), ("is_superuser", is_superuser)):
        if name in names:
            fields[name] = value
    user = User._default_manager.create_user(username, password=password, **fields)
    if hasher:
        user.password = make_password(password, hasher=hasher)
        user.save(update_fields=["password"])
    return pk_json(user.pk)


@op("authenticate")
def authenticate_(username, password):
    from django.contrib.auth import authenticate

    user = authenticate(request_with(store()), username=username, password=password)
    return None if user is None else pk_json(user.pk)


@op("admin_login")
def admin_login(username, password):
    """Whether Django's admin lets this user in: ``AdminAuthenticationForm`` (``authenticate``, then active
    and ``is_staff``) is valid for these credentials."""
    from django.contrib.admin.forms import AdminAuthenticationForm

    form = AdminAuthenticationForm(request_with(store()), data={"username": username, "password": password})
    return form.is_valid()


@op("get_user_row")
def get_user_row(pk):
    """Every column of the user's row (``SELECT *`` of the model's table), as the database returns it
    (datetimes ISO, UUIDs as strings); null when absent."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    User = get_user_model()
    pk_field = User._meta.pk
    quote = connection.ops.quote_name
    key = pk_field.get_db_prep_value(pk_field.to_python(pk), connection)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {quote(User._meta.db_table)} WHERE {quote(pk_field.column)} = %s", [key])
        row = cursor.fetchone()
        if row is None:
            return None
        return {column.name: json_value(value) for column, value in zip(cursor.description, row)}


@op("check_password")
def check_password(username, password):
    """``user.check_password`` (which, as in Django, re-hashes and saves an outdated hash)."""
    return get_by_username(username).check_password(password)


@op("set_password")
def set_password(username, password):
    user = get_by_username(username)
    user.set_password(password)
    user.save()
    return None


@op("set_user_active")
def set_user_active(username, is_active):
    """``user.is_active = is_active; user.save()``."""
    user = get_by_username(username)
    user.is_active = is_active
    user.save()
    return None


@op("delete_user")
def delete_user(username):
    """``user.delete()`` through the ORM (its sessions stay where they are, as in Django)."""
    get_by_username(username).delete()
    return None


@op("reset_link")
@op("password_reset_link")
def password_reset_link(username):
    """What ``PasswordResetForm.save`` puts in its mail: ``uidb64`` and the token, for this user now."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    user = get_by_username(username)
    return {"uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user)}


@op("check_reset_link")
def check_reset_link(uidb64, token):
    """The pk of the user if ``PasswordResetConfirmView`` would accept this link (its own ``get_user(uidb64)``,
    then its ``token_generator.check_token``), else null."""
    from django.contrib.auth.views import PasswordResetConfirmView

    view = PasswordResetConfirmView()
    user = view.get_user(uidb64)
    if user is None or not view.token_generator.check_token(user, token):
        return None
    return pk_json(user.pk)


@op("password_reset_check")
def password_reset_check(uidb64, token):
    """Whether ``PasswordResetConfirmView`` would accept this link (``check_reset_link`` is not null)."""
    return check_reset_link(uidb64, token) is not None


@op("session_auth_hash")
def session_auth_hash(pk):
    return get_by_pk(pk).get_session_auth_hash()


@op("login_session")
def login_session(username, password, session_key=None, signed_at=None):
    """``authenticate`` then ``django.contrib.auth.login`` into a fresh session (or the session
    ``session_key``), saved as the middleware saves it. ``signed_at`` (Unix seconds) is the clock
    ``django.core.signing`` sees meanwhile, as Django's tests mock ``time.time``: a signed_cookies session
    signed that long ago."""
    import contextlib
    import types
    from unittest import mock

    from django.contrib.auth import authenticate, login
    from django.core import signing

    clock = contextlib.nullcontext()
    if signed_at is not None:
        clock = mock.patch.object(signing, "time", types.SimpleNamespace(time=lambda: signed_at))
    with clock:
        request = request_with(store(session_key))
        user = authenticate(request, username=username, password=password)
        if user is None:
            raise ValueError(f"authentication failed for {username!r}")
        login(request, user)
        request.session.save()
    return {"session_key": request.session.session_key, "data": dict(request.session.items())}


@op("logout")
def logout_(session_key):
    """``django.contrib.auth.logout`` on a request carrying the session ``session_key`` (its ``request.user``
    as AuthenticationMiddleware sets it)."""
    from django.contrib.auth import get_user, logout

    request = request_with(store(session_key))
    request.user = get_user(request)
    logout(request)
    return {"session_key_after": request.session.session_key}


@op("get_user")
def get_user_(session_key, save=True):
    """``django.contrib.auth.get_user(request)`` for a request carrying the session ``session_key``: who it
    is, whether it flushed or cycled the session, and (``save``, as SessionMiddleware would) the session
    saved afterwards when modified and not empty."""
    from django.contrib.auth import get_user

    session = store(session_key)
    calls = spy_on(session)
    user = get_user(request_with(session))
    saved = False
    if save and session.modified and not session.is_empty():
        session.save()
        saved = True
    if user.is_authenticated:
        result = {"pk": pk_json(user.pk), "username": user.get_username()}
    else:
        result = {"anonymous": True}
    result.update(
        flushed="flush" in calls,
        cycled="cycle_key" in calls,
        saved=saved,
        session_key_after=session.session_key,
        data=dict(session._session),
    )
    return result


@op("django_request")
def django_request(cookie_header):
    """A GET carrying the header ``Cookie: <cookie_header>`` through Django's own SessionMiddleware and
    AuthenticationMiddleware, to a view that reads ``request.user``: 200 for a user, 401 for AnonymousUser
    (as Django REST framework's ``IsAuthenticated`` answers). What real Django answers to that request:
    ``status``, ``pk``, whether ``get_user`` flushed or cycled the session, and the ``set_cookie`` values
    the response carries (``Morsel.OutputString()``, the ``Set-Cookie`` header's value)."""
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.http import HttpResponse
    from django.test import RequestFactory

    seen = {}

    def view(request):
        calls = spy_on(request.session)
        user = request.user
        seen.update(pk=pk_json(user.pk) if user.is_authenticated else None, calls=calls)
        return HttpResponse(status=200 if user.is_authenticated else 401)

    request = RequestFactory().get("/", HTTP_COOKIE=cookie_header)
    response = SessionMiddleware(AuthenticationMiddleware(view))(request)
    return {
        "status": response.status_code,
        "pk": seen["pk"],
        "flushed": "flush" in seen["calls"],
        "cycled": "cycle_key" in seen["calls"],
        "set_cookie": [morsel.OutputString() for morsel in response.cookies.values()],
    }


# --- the command ---------------------------------------------------------------------------------------------


@op("bench_store")
def bench_store(session_key, number=2000):
    """Django's own SessionStore on this peer's engine, timed (ns per operation, mean over ``number``):
    ``load`` is ``SessionStore(key).load()``; ``save`` is a request that loads, changes one key and saves,
    as SessionMiddleware does. For ``make bench``, beside the same operations in Rust."""
    import timeit

    counter = iter(range(10**9))

    def load():
        store(session_key).load()

    def save():
        session = store(session_key)
        session["counter"] = next(counter)
        session.save()

    load()
    return {
        "load_ns": timeit.timeit(load, number=number) / number * 1e9,
        "save_ns": timeit.timeit(save, number=number) / number * 1e9,
    }


class Command(BaseCommand):
    help = "Answers JSON-lines requests from the Rust tests with real Django (see tests/django/peer/README.md)."
    requires_system_checks = []

    def handle(self, *args, **options):
        from django.db import close_old_connections

        out = sys.stdout
        sys.stdout = sys.stderr  # only answers go to stdout; anything Django prints goes to stderr
        try:
            for line in sys.stdin:
                line = line.strip()
                if not line:
                    continue
                close_old_connections()
                try:
                    request = json.loads(line)
                    if request.get("settings"):
                        raise ValueError("the peer takes its settings from the environment, not from requests")
                    handler = OPS.get(request["op"])
                    if handler is None:
                        raise ValueError(f"unknown op {request['op']!r}")
                    answer = json.dumps({"ok": handler(**request.get("args", {}))})
                except Exception as exc:  # the Rust side asserts on the type and message
                    answer = json.dumps({"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})
                finally:
                    close_old_connections()
                out.write(answer + "\n")
                out.flush()
        finally:
            sys.stdout = out
