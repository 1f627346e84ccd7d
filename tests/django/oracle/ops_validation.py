"""Password validation (django.contrib.auth.password_validation) with the validators of Django's
``startproject`` template, and the Python ``str`` operations they are written with."""

import functools
import json
import re
import unicodedata

from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from .registry import op


def _validators(options=None):
    """``AUTH_PASSWORD_VALIDATORS`` of the startproject template; ``options`` gives each class its OPTIONS,
    keyed by the class name (e.g. ``{"MinimumLengthValidator": {"min_length": 1}}``). Built once per
    configuration, as Django caches its default list (CommonPasswordValidator reads its file when built)."""
    return _configured(json.dumps(options or {}, sort_keys=True))


@functools.lru_cache(maxsize=None)
def _configured(options_json):
    options = json.loads(options_json)
    names = [
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    ]
    return password_validation.get_password_validators(
        [
            {"NAME": f"django.contrib.auth.password_validation.{name}", "OPTIONS": options.get(name, {})}
            for name in names
        ]
    )


@op("password_validation.validate")
def validate(password, user, options=None):
    """``validate_password(password, user)`` on an unsaved ``User`` with ``user``'s fields: the errors as
    ``{code, message}`` (message formatted with its params, as a form shows it), or ``[]``."""
    instance = User(**user)
    try:
        password_validation.validate_password(password, instance, _validators(options))
    except ValidationError as exc:
        # Iterating a single ValidationError yields its message formatted with its params, as forms do.
        return [{"code": error.code, "message": message} for error in exc.error_list for message in error]
    return []


@op("password_validation.validate_many")
def validate_many(cases):
    """``validate`` for a list of ``{password, user, options?}``: one request for a whole corpus."""
    return [validate(**case) for case in cases]


@op("password_validation.help_texts")
def help_texts(options=None):
    return password_validation.password_validators_help_texts(_validators(options))


@op("password_validation.common_passwords")
def common_passwords():
    """``CommonPasswordValidator().passwords``, sorted."""
    return sorted(password_validation.CommonPasswordValidator().passwords)


def _ranges(code_points):
    ranges = []
    for c in code_points:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return ranges


@op("pystr.tables")
def pystr_tables():
    """Per code point (surrogates excluded), what this Python answers for the operations the validators use:
    ``\\w`` of ``re`` (as ``re.split(r"\\W+", c)`` sees it), ``str.isdigit()``, ``str.strip()`` and
    ``str.lower()``; with the code points its Unicode database assigns (category not Cn)."""
    non_word = re.compile(r"\W+")
    chars = [chr(i) for i in range(0x110000) if not 0xD800 <= i < 0xE000]
    return {
        "unidata_version": unicodedata.unidata_version,
        "assigned": _ranges(ord(c) for c in chars if unicodedata.category(c) != "Cn"),
        "word": _ranges(ord(c) for c in chars if non_word.split(c) == [c]),
        "digit": _ranges(ord(c) for c in chars if c.isdigit()),
        "space": _ranges(ord(c) for c in chars if c.strip() == ""),
        "lower": {str(ord(c)): c.lower() for c in chars if c.lower() != c},
    }


@op("password_validation.similarity_validator")
def similarity_validator(max_similarity):
    """The constructor's check; returns None when Django accepts ``max_similarity``."""
    password_validation.UserAttributeSimilarityValidator(max_similarity=max_similarity)
