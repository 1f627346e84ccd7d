"""Operations on Django itself: signing, session codecs, expiry, auth hash, CSRF, reset tokens."""

import datetime
import json
from unittest import mock

from .registry import op


@op("version")
def version():
    import sys

    import django

    return {"django": django.get_version(), "python": sys.version.split()[0]}


def at(time):
    """Freeze ``time.time()`` (what signing and ``datetime.now()`` read) at ``time`` seconds."""
    return mock.patch("time.time", return_value=time)


# --- django.core.signing ---------------------------------------------------------------------------------


@op("salted_hmac")
def salted_hmac(key_salt, value, secret, algorithm):
    from django.utils.crypto import salted_hmac

    return salted_hmac(key_salt, value, secret, algorithm=algorithm).hexdigest()


@op("signer.sign")
def signer_sign(value, key, salt, algorithm="sha256", sep=":"):
    from django.core.signing import Signer

    return Signer(key=key, salt=salt, algorithm=algorithm, sep=sep).sign(value)


@op("signer.unsign")
def signer_unsign(value, key, salt, fallback_keys=None, algorithm="sha256"):
    from django.core.signing import Signer

    return Signer(key=key, salt=salt, fallback_keys=fallback_keys, algorithm=algorithm).unsign(value)


@op("timestamp_signer.sign")
def timestamp_signer_sign(value, key, salt, time):
    from django.core.signing import TimestampSigner

    with at(time):
        return TimestampSigner(key=key, salt=salt).sign(value)


@op("timestamp_signer.unsign")
def timestamp_signer_unsign(value, key, salt, time, max_age=None):
    from django.core.signing import TimestampSigner

    with at(time):
        return TimestampSigner(key=key, salt=salt).unsign(value, max_age=max_age)


@op("signing.dumps")
def signing_dumps(obj, key, salt, time, compress=False):
    from django.core import signing

    with at(time):
        return signing.dumps(obj, key=key, salt=salt, compress=compress)


@op("signing.loads")
def signing_loads(value, key, salt, time, max_age=None, fallback_keys=None):
    from django.core import signing

    with at(time):
        return signing.loads(value, key=key, salt=salt, max_age=max_age, fallback_keys=fallback_keys)


@op("json.dumps")
def json_dumps(obj):
    """Django's signing serializer, bytes decoded as latin-1 (they are ASCII)."""
    from django.core.signing import JSONSerializer

    return JSONSerializer().dumps(obj).decode("latin-1")


@op("json.dumps_strings")
def json_dumps_strings(codepoints):
    """Each list of code points as a str through Django's serializer (JSON can't carry lone surrogates)."""
    from django.core.signing import JSONSerializer

    return [JSONSerializer().dumps("".join(map(chr, cps))).decode("latin-1") for cps in codepoints]


@op("float.repr")
def float_repr(bits):
    import struct

    return [repr(struct.unpack(">d", bytes.fromhex(b))[0]) for b in bits]


# --- sessions --------------------------------------------------------------------------------------------


@op("session.encode")
def session_encode(data, time):
    from django.contrib.sessions.backends.db import SessionStore

    with at(time):
        return SessionStore().encode(data)


@op("session.decode")
def session_decode(session_data):
    """``SessionBase.decode``: ``{}`` for anything corrupt, as Django answers."""
    from django.contrib.sessions.backends.db import SessionStore

    return SessionStore().decode(session_data)


@op("session.legacy_encode")
def session_legacy_encode(data):
    """The pre-3.1 format, built with Django's own ``salted_hmac`` as ``SessionBase._hash`` did."""
    import base64

    from django.utils.crypto import salted_hmac

    serialized = json.dumps(data, separators=(",", ":")).encode("latin-1")
    hash_ = salted_hmac("django.contrib.sessionsSessionStore", serialized, algorithm="sha1").hexdigest()
    return base64.b64encode(hash_.encode() + b":" + serialized).decode("ascii")


@op("signed_cookies.encode")
def signed_cookies_encode(data, time):
    from django.contrib.sessions.backends.signed_cookies import SessionStore

    store = SessionStore()
    store.update(data)
    with at(time):
        return store._get_session_key()


@op("signed_cookies.load")
def signed_cookies_load(cookie, time):
    """What the engine's ``load()`` returns: the dict, or ``{}`` (with a new session) on any failure."""
    from django.contrib.sessions.backends.signed_cookies import SessionStore

    with at(time):
        return SessionStore(session_key=cookie).load()


@op("django_redis.json.dumps")
def django_redis_json_dumps(data):
    from django_redis.serializers.json import JSONSerializer

    return JSONSerializer(options={}).dumps(data).decode("utf-8")


@op("django_redis.json.loads")
def django_redis_json_loads(value):
    from django_redis.serializers.json import JSONSerializer

    return JSONSerializer(options={}).loads(value.encode("utf-8"))


@op("session.expiry")
def session_expiry(data, now):
    """``get_expiry_age``, ``get_expiry_date`` and ``get_expire_at_browser_close`` at ``now`` (ISO)."""
    from django.contrib.sessions.backends.base import SessionBase

    session = SessionBase()
    session.update(data)
    modification = datetime.datetime.fromisoformat(now)
    with mock.patch("django.utils.timezone.now", return_value=modification):
        return {
            "age": session.get_expiry_age(modification=modification),
            "date": session.get_expiry_date(modification=modification).isoformat(),
            "at_browser_close": session.get_expire_at_browser_close(),
        }


@op("session.set_expiry")
def session_set_expiry(value, now):
    """What ``set_expiry`` stores: ``value`` is an int, or an ISO datetime string to pass as a datetime."""
    from django.contrib.sessions.backends.base import SessionBase

    session = SessionBase()
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    with mock.patch("django.utils.timezone.now", return_value=datetime.datetime.fromisoformat(now)):
        session.set_expiry(value)
    return dict(session)


# --- auth ------------------------------------------------------------------------------------------------


@op("auth.session_auth_hash")
def session_auth_hash(password):
    from django.contrib.auth.models import User

    return User(password=password).get_session_auth_hash()


@op("auth.fallback_hashes")
def fallback_hashes(password):
    """``_get_session_auth_hash(secret=f)`` for each of ``SECRET_KEY_FALLBACKS``, as ``get_user`` tries them."""
    from django.conf import settings
    from django.contrib.auth.models import User

    user = User(password=password)
    return [user._get_session_auth_hash(secret=key) for key in settings.SECRET_KEY_FALLBACKS]


# --- CSRF ------------------------------------------------------------------------------------------------


@op("csrf.mask")
def csrf_mask(secret, mask):
    from django.middleware import csrf

    with mock.patch("django.middleware.csrf._get_new_csrf_string", return_value=mask):
        return csrf._mask_cipher_secret(secret)


@op("csrf.unmask")
def csrf_unmask(token):
    from django.middleware import csrf

    return csrf._unmask_cipher_token(token)


@op("csrf.get_token")
def csrf_get_token(cookie=None):
    """A masked token from ``get_token`` and the cookie value the response would set."""
    from django.http import HttpResponse
    from django.middleware.csrf import CsrfViewMiddleware, get_token
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    if cookie is not None:
        request.COOKIES["csrftoken"] = cookie
    middleware = CsrfViewMiddleware(lambda r: HttpResponse())
    middleware.process_request(request)
    token = get_token(request)
    response = middleware.process_response(request, HttpResponse())
    return {"token": token, "cookie": response.cookies["csrftoken"].value if "csrftoken" in response.cookies else None}


@op("csrf.check")
def csrf_check(cookie=None, form_token=None, header_token=None):
    """Runs Django's real ``CsrfViewMiddleware`` on a POST; the rejection reason, or ``None`` if accepted."""
    from django.test import RequestFactory

    data = {} if form_token is None else {"csrfmiddlewaretoken": form_token}
    headers = {} if header_token is None else {"HTTP_X_CSRFTOKEN": header_token}
    request = RequestFactory().post("/", data, **headers)
    if cookie is not None:
        request.COOKIES["csrftoken"] = cookie
    return csrf_rejection(request)


def csrf_rejection(request):
    """Runs ``CsrfViewMiddleware`` on ``request``: the reason it would reject it, or ``None``."""
    from django.http import HttpResponse
    from django.middleware.csrf import CsrfViewMiddleware

    reasons = []

    def reject(self, request, reason):
        reasons.append(reason)
        return HttpResponse(status=403)

    middleware = CsrfViewMiddleware(lambda r: HttpResponse())
    with mock.patch.object(CsrfViewMiddleware, "_reject", reject):
        middleware.process_request(request)
        response = middleware.process_view(request, lambda r: HttpResponse(), (), {})
    return reasons[0] if response is not None else None


# --- password reset ----------------------------------------------------------------------------------------


def reset_user(user):
    from django.contrib.auth.models import User

    last_login = user.get("last_login")
    return User(
        pk=user["pk"],
        password=user["password"],
        email=user.get("email", ""),
        last_login=datetime.datetime.fromisoformat(last_login) if last_login else None,
    )


def frozen_generator(time):
    """A token generator whose ``datetime.now()`` is the process's local wall clock (``TIME_ZONE``) at ``time``."""
    from django.contrib.auth.tokens import PasswordResetTokenGenerator

    generator = PasswordResetTokenGenerator()
    generator._now = lambda: datetime.datetime.fromtimestamp(time)
    return generator


@op("tokens.make")
def tokens_make(user, time):
    return frozen_generator(time).make_token(reset_user(user))


@op("tokens.check")
def tokens_check(user, token, time):
    return frozen_generator(time).check_token(reset_user(user), token)


@op("tokens.uidb64")
def tokens_uidb64(pk):
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    return urlsafe_base64_encode(force_bytes(pk))


# --- get_user ----------------------------------------------------------------------------------------------

_migrated = False


def _migrate():
    global _migrated
    if not _migrated:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        _migrated = True


@op("auth.get_user")
def auth_get_user(session, user=None):
    """Django's real ``get_user(request)`` on a cache session holding ``session``, with ``user`` (or no user)
    in the database. Tells who Django sees and what it did to the session."""
    from django.contrib.auth import get_user
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.cache import SessionStore
    from django.test import RequestFactory

    _migrate()
    User.objects.all().delete()
    if user is not None:
        User.objects.create(
            pk=user["pk"], username=f"u{user['pk']}", password=user["password"], is_active=user["is_active"]
        )
    store = SessionStore()
    store.update(session)
    store.save()
    key_before = store.session_key
    request = RequestFactory().get("/")
    request.session = store
    found = get_user(request)
    return {
        "user_pk": found.pk if found.is_authenticated else None,
        "key_changed": store.session_key != key_before,
        "session": dict(store.items()),
    }


@op("csrf.check_origin")
def csrf_check_origin(secure, origin=None, referer=None, host="testserver"):
    """``CsrfViewMiddleware.process_view`` on a POST with a valid token, so only Origin/Referer can fail."""
    from django.test import RequestFactory

    secret = "abcdefghijklmnopqrstuvwxyzABCDEF"
    headers = {"HTTP_X_CSRFTOKEN": secret}
    if origin is not None:
        headers["HTTP_ORIGIN"] = origin
    if referer is not None:
        headers["HTTP_REFERER"] = referer
    request = RequestFactory().post("/", secure=secure, HTTP_HOST=host, **headers)
    request.COOKIES["csrftoken"] = secret
    return {"reason": csrf_rejection(request), "port": request.get_port()}


@op("session.cache_key")
def session_cache_key(engine, session_key):
    """The full Redis key Django's cache layer uses for a session (``cache.make_key(store.cache_key)``)."""
    from importlib import import_module

    from django.core.cache import caches

    store = import_module(f"django.contrib.sessions.backends.{engine}").SessionStore(session_key=session_key)
    return caches["default"].make_key(store.cache_key)


@op("session.validate_keys")
def session_validate_keys(keys):
    """``SessionBase._validate_session_key`` for each key, and a key Django would make."""
    from django.contrib.sessions.backends.cache import SessionStore

    store = SessionStore()
    return {"valid": [bool(store._validate_session_key(k)) for k in keys], "new": store._get_new_session_key()}


# --- SessionMiddleware's cookie ----------------------------------------------------------------------------


@op("session_middleware.set_cookie")
def session_middleware_set_cookie(value, max_age, time):
    """The Set-Cookie value ``SessionMiddleware.process_response`` sends for a saved session (the
    ``SESSION_COOKIE_*`` settings of the request), with ``time.time()`` frozen at ``time``."""
    from django.conf import settings
    from django.http import HttpResponse
    from django.utils.http import http_date

    response = HttpResponse()
    with at(time):
        expires = None if max_age is None else http_date(time + max_age)
        response.set_cookie(
            settings.SESSION_COOKIE_NAME,
            value,
            max_age=max_age,
            expires=expires,
            domain=settings.SESSION_COOKIE_DOMAIN,
            path=settings.SESSION_COOKIE_PATH,
            secure=settings.SESSION_COOKIE_SECURE or None,
            httponly=settings.SESSION_COOKIE_HTTPONLY or None,
            samesite=settings.SESSION_COOKIE_SAMESITE,
        )
    return response.cookies[settings.SESSION_COOKIE_NAME].OutputString()


@op("session_middleware.delete_cookie")
def session_middleware_delete_cookie():
    """The Set-Cookie value ``SessionMiddleware.process_response`` sends to drop an emptied session."""
    from django.conf import settings
    from django.http import HttpResponse

    response = HttpResponse()
    response.delete_cookie(
        settings.SESSION_COOKIE_NAME,
        path=settings.SESSION_COOKIE_PATH,
        domain=settings.SESSION_COOKIE_DOMAIN,
        samesite=settings.SESSION_COOKIE_SAMESITE,
    )
    return response.cookies[settings.SESSION_COOKIE_NAME].OutputString()


# --- ALLOWED_HOSTS -----------------------------------------------------------------------------------------


@op("http.split_domain_port")
def http_split_domain_port(hosts):
    from django.http.request import split_domain_port

    return [list(split_domain_port(host)) for host in hosts]


@op("http.validate_host")
def http_validate_host(domains, allowed_hosts):
    from django.http.request import validate_host

    return [validate_host(domain, allowed_hosts) for domain in domains]


@op("http.url_has_allowed_host_and_scheme")
def http_url_has_allowed_host_and_scheme(urls, allowed_hosts, require_https):
    from django.utils.http import url_has_allowed_host_and_scheme

    return [url_has_allowed_host_and_scheme(url, set(allowed_hosts), require_https) for url in urls]
