"""The JSON views of the peer site, for the cross-service suite: who Django says is logged in, session data
only Django understands, and a CSRF-protected POST."""

import datetime
import decimal

from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.http import require_http_methods, require_POST

from .users import pk_json


def whoami(request):
    """`request.user` as AuthenticationMiddleware resolved it (`get_user`); sets the CSRF cookie. The pk is an
    int, or a string for a UUID key (peerapp/users.py)."""
    get_token(request)
    user = request.user
    if not user.is_authenticated:
        return JsonResponse({"user": None, "username": None})
    return JsonResponse({"user": pk_json(user.pk), "username": user.get_username()})


def plain(request):
    """Touches neither the session nor the user: what SessionMiddleware sends when only
    SESSION_SAVE_EVERY_REQUEST makes it save (Vary: Cookie since 5.2.14 and 6.0.5)."""
    return JsonResponse({"plain": True})


# Values the JSON session serializer cannot hold and Python's pickle (the cache engines' format) can.
RICH = {
    "when": datetime.datetime(2024, 2, 29, 13, 37, 42, 123456, tzinfo=datetime.timezone.utc),
    "amount": decimal.Decimal("1234.5600"),
    "tags": {"alpha", "beta"},
    "day": datetime.date(2024, 2, 29),
}


@require_http_methods(["GET", "POST"])
def rich_session(request):
    """POST stores RICH in the session; GET says, key by key, whether the session holds them unchanged
    (the same type and the same value), the session's user, and the idle-timeout stamp our services write."""
    if request.method == "POST":
        request.session.update(RICH)
        return JsonResponse({"stored": sorted(RICH)})
    report = {}
    for key, expected in RICH.items():
        value = request.session.get(key)
        report[key] = {
            "type": type(value).__name__,
            "repr": repr(value),
            "equal": type(value) is type(expected) and value == expected,
        }
    return JsonResponse(
        {"values": report, "user": pk_json(request.user.pk), "last_activity": request.session.get("last_activity")}
    )


@require_POST
def csrf_protected(request):
    """Reached only when CsrfViewMiddleware accepted the request's token."""
    return JsonResponse({"accepted": True, "user": pk_json(request.user.pk)})
