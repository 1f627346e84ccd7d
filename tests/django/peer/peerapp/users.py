"""The user model in force (``AUTH_USER_MODEL``: ``auth.User``, ``emailusers.User`` or ``bigusers.User``) as
the peer's JSON shows it."""

import datetime
import uuid


def pk_json(pk):
    """A user's pk as JSON carries it: an int for integer keys, ``str(pk)`` otherwise (UUID keys); null
    stays null."""
    if pk is None or isinstance(pk, int):
        return pk
    return str(pk)


def json_value(value):
    """A database value as JSON carries it: datetimes, dates and times ISO 8601, UUIDs as strings."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def email_field_name(model):
    """The model's email field (``get_email_field_name()``), or None when it has no such field."""
    from django.core.exceptions import FieldDoesNotExist

    name = model.get_email_field_name()
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return name
