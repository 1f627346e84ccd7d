"""Pickle: what Django's cache backends write and read.

The cases are Python objects a session may hold, built here from a fixed set of safe constructors (nothing
from the request is evaluated). The Rust tests ask for each case pickled by Django's own serializers, read
the bytes, write them back, and ask Python to load what Rust wrote and compare it with a fresh copy of the
case.
"""

import collections
import datetime
import decimal
import enum
import os
import pickle
import uuid
import zoneinfo

from .registry import op, unhex


class Thing:
    """An app's class with ``__dict__`` state: pickled as NEWOBJ then BUILD of the dict."""

    def __init__(self, name, n):
        self.name = name
        self.n = n

    def __eq__(self, other):
        return type(other) is Thing and vars(self) == vars(other)


class Slotted:
    """A class with ``__slots__``: its state is ``(None, {slot: value})``."""

    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a = a
        self.b = b

    def __eq__(self, other):
        return type(other) is Slotted and (self.a, self.b) == (other.a, other.b)


class KeywordOnly:
    """A class rebuilt with keyword arguments: ``__getnewargs_ex__`` gives NEWOBJ_EX."""

    def __new__(cls, *, size):
        self = super().__new__(cls)
        self.size = size
        return self

    def __getnewargs_ex__(self):
        return (), {"size": self.size}

    def __eq__(self, other):
        return type(other) is KeywordOnly and self.size == other.size


class Bag(list):
    """A list subclass with state: listitems (APPENDS) then BUILD."""

    def __eq__(self, other):
        return type(other) is Bag and list(self) == list(other) and vars(self) == vars(other)


class Color(enum.Enum):
    RED = "red"
    GREEN = 2


UTC = datetime.timezone.utc

LOGIN = {
    "_auth_user_id": "1",
    "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
    "_auth_user_hash": "0d00fe7cc42a4b051a24843251944d3fab8fb64fd364c54bcce7e775ae9b4b3e",
}


def _bag():
    bag = Bag([1, "two", (3,)])
    bag.label = "bag"
    return bag


# Each case builds a new object, so no two cases share anything. Cases named "shared_*" hold the same
# object twice on purpose (Python writes BINGET for the second occurrence; a value tree writes it twice).
CASES = {
    "login": lambda: dict(LOGIN),
    "empty_dict": lambda: {},
    "counter": lambda: {"counter": 1},
    "none_and_bools": lambda: [None, True, False],
    "ints": lambda: [
        0, 1, 255, 256, 65535, 65536, -1, -128, -129, -256, -32768, -65536,
        2**31 - 1, -(2**31), 2**31, -(2**31) - 1, 2**32, -(2**32), -(2**39),
        2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**64, -(2**64), 2**100, -(2**100) + 7,
    ],
    "huge_ints": lambda: [2**2040, -(2**2040), 2**2048 + 1, -(2**2048)],
    "floats": lambda: [0.0, -0.0, 1.5, -2.25, 1e300, -1e-300, 5e-324, float("inf"), float("-inf"), 0.1],
    "unicode": lambda: ["", "a", "é", "ā", "日本語", "😀 non-BMP 𝄞", "x" * 255, "y" * 256, "ü" * 200],
    "bytes": lambda: [b"", b"\x00", b"abc", b"\xff" * 255, b"\x01" * 256],
    "bytearray": lambda: [bytearray(b"xyz"), bytearray(), bytearray(b"\x00" * 300)],
    "nested": lambda: {
        "list": [1, (2, 3), {"b": (4,), "c": ()}, [[[]]]],
        "t4": (1, 2, 3, 4),
        "t3": (1, 2, 3),
        "dict_keys": {1: "int", (1, "a"): "tuple", None: "none", 2.5: "float", b"k": "bytes", frozenset([7]): "fs"},
    },
    "datetime": lambda: datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    "datetimes": lambda: {
        "aware": datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "naive": datetime.datetime(1999, 12, 31, 23, 59, 59),
        "offset": datetime.datetime(2020, 2, 29, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
        "date": datetime.date(2024, 1, 1),
        "time": datetime.time(1, 2, 3),
        "delta": datetime.timedelta(days=1, seconds=5, microseconds=7),
    },
    "zoned": lambda: [
        datetime.datetime(2024, 1, 1, tzinfo=UTC),
        datetime.datetime(2024, 6, 1, 12, tzinfo=datetime.timezone(datetime.timedelta(0))),
        datetime.datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        datetime.datetime(2024, 6, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        datetime.datetime(2024, 6, 1, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
        datetime.time(8, 0, tzinfo=UTC),
    ],
    "decimal": lambda: decimal.Decimal("3.14159"),
    "decimals": lambda: [decimal.Decimal("1"), decimal.Decimal("-0.5"), decimal.Decimal("NaN")],
    "set": lambda: {1, 2, 3, 1000},
    "set_of_str": lambda: {"a", "bb", "ccc"},
    "frozenset": lambda: frozenset([1, "x", (2, 3)]),
    "empty_sets": lambda: [set(), frozenset()],
    "ordered_dict": lambda: collections.OrderedDict([("a", 1), ("b", [2]), ("c", {"d": 3})]),
    "defaultdict": lambda: collections.defaultdict(list, {"k": [1], "j": []}),
    "counter_obj": lambda: collections.Counter("abracadabra"),
    "instance": lambda: Thing("x", 2),
    "slotted": lambda: Slotted(1, "b"),
    "instances": lambda: [Thing("a", 1), Thing("b", [Thing("c", 3)]), Slotted(2, 3), Slotted(4, 5)],
    "session_mix": lambda: {
        "_auth_user_id": "7",
        "cart": [Thing("book", 2), Thing("pen", 10)],
        "last_seen": datetime.datetime(2025, 6, 1, 8, 30, tzinfo=UTC),
        "total": decimal.Decimal("12.50"),
        "tags": {"new", "vip"},
        "prefs": collections.OrderedDict([("theme", "dark"), ("lang", "fr")]),
        "_session_expiry": 3600,
    },
    "keyword_only": lambda: KeywordOnly(size=3),
    "list_subclass": _bag,
    "enum": lambda: [Color.RED, Color.GREEN],
    "uuid": lambda: uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "complex": lambda: complex(1, -2.5),
    "range": lambda: range(1, 10, 3),
    "big_str": lambda: "x" * (70 * 1024),
    "big_bytes": lambda: {"before": "a" * 100, "big": b"\x07" * (70 * 1024), "after": 1},
    "big_in_the_middle": lambda: ["s" * 65535, "t" * 65536, "u" * 65537, "end"],
    "many_small": lambda: [f"item-{i:06d}" for i in range(8000)],
    "dict_1000": lambda: {f"k{i}": i for i in range(1000)},
    "dict_1001": lambda: {f"k{i}": i for i in range(1001)},
    "dict_2000": lambda: {f"k{i}": i for i in range(2000)},
    "list_1000": lambda: list(range(1000)),
    "list_1001": lambda: list(range(1001)),
    "set_1000": lambda: set(range(1000)),
    "set_2001": lambda: set(range(2001)),
    "frozenset_1500": lambda: frozenset(range(1500)),
    "ordered_dict_1001": lambda: collections.OrderedDict((f"k{i}", i) for i in range(1001)),
    "list_subclass_1001": lambda: Bag(range(1001)),
    "shared_list": lambda: (lambda x: [x, x])([1, 2]),
}

# The cases whose Python bytes hold a BINGET of an object Python shares by identity alone.
SHARED = [name for name in CASES if name.startswith("shared_")]


def _serializers():
    from django.core.cache.backends.redis import RedisSerializer
    from django_redis.serializers.pickle import PickleSerializer

    return {
        "redis_cache": RedisSerializer(),  # Django's RedisCache: pickle.HIGHEST_PROTOCOL
        "django_redis": PickleSerializer(options={}),  # django-redis: pickle.DEFAULT_PROTOCOL
    }


@op("pickle.cases")
def pickle_cases():
    """Every case as Django's ``RedisSerializer``, django-redis's ``PickleSerializer`` and plain
    ``pickle.dumps`` at protocols 4 and 5 write it, in hex."""
    serializers = _serializers()
    out = {}
    for name, make in CASES.items():
        obj = make()
        out[name] = {
            "redis_cache": serializers["redis_cache"].dumps(obj).hex(),
            "django_redis": serializers["django_redis"].dumps(obj).hex(),
            "p4": pickle.dumps(obj, 4).hex(),
            "p5": pickle.dumps(obj, 5).hex(),
        }
    return {"cases": out, "shared": SHARED, "protocols": {"highest": pickle.HIGHEST_PROTOCOL, "default": pickle.DEFAULT_PROTOCOL}}


def _same(a, b):
    """``a == b`` with the same types all the way down (``1 == 1.0 == True`` would hide a wrong type)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and a != a:
        return b != b
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        if list(a.keys()) != list(b.keys()) or not all(_same(k, l) for k, l in zip(a, b)):
            return False
        if isinstance(a, collections.defaultdict) and a.default_factory is not b.default_factory:
            return False
        return all(_same(a[k], b[k]) for k in a)
    if isinstance(a, decimal.Decimal):
        return str(a) == str(b)
    if isinstance(a, datetime.datetime):
        return a == b and a.tzinfo == b.tzinfo
    return a == b


@op("pickle.check")
def pickle_check(data, expected, serializer="redis_cache"):
    """Loads Rust's pickle with Django's serializer; for each key, whether the value is the same (type and
    value) as a fresh copy of the named case, or as the given JSON value. Returns the mismatches."""
    obj = _serializers()[serializer].loads(unhex(data))
    if type(obj) is not dict:
        return {"mismatches": ["<not a dict>"], "keys": []}
    mismatches = []
    for key, want in expected.items():
        if key not in obj:
            mismatches.append(f"{key}: missing")
            continue
        want = CASES[want["case"]]() if isinstance(want, dict) and "case" in want else want["json"]
        if not _same(obj[key], want):
            mismatches.append(f"{key}: got {obj[key]!r:.200}, want {want!r:.200}")
    return {"mismatches": mismatches, "keys": list(obj.keys())}


@op("pickle.login_session")
def pickle_login_session(password):
    """A real login through Django's cache session engine; the session dict and the bytes each Redis
    serializer stores for it (the locmem cache stores the same protocol-5 pickle as ``RedisCache``)."""
    from django.contrib.auth import login
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.cache import SessionStore
    from django.core.cache import caches
    from django.test import RequestFactory

    from .ops_core import _migrate

    _migrate()
    User.objects.filter(pk=1).delete()
    user = User.objects.create(pk=1, username="alice", password=password)
    request = RequestFactory().get("/")
    request.session = SessionStore()
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session.save()
    cache = caches["default"]
    stored = cache._cache[cache.make_key(request.session.cache_key)]
    session = dict(request.session.items())
    serializers = _serializers()
    return {
        "session": session,
        "locmem": stored.hex(),
        "redis_cache": serializers["redis_cache"].dumps(session).hex(),
        "django_redis": serializers["django_redis"].dumps(session).hex(),
    }


class _Evil:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@op("pickle.malicious")
def pickle_malicious(path):
    """Pickles whose loading in Python would run a command creating ``path``. Only dumped here, never
    loaded."""
    command = f"touch {path}"
    return {
        "os_system_p5": pickle.dumps(_Evil(command), 5).hex(),
        "os_system_p0": pickle.dumps(_Evil(command), 0).hex(),
        "in_session": pickle.dumps({"_auth_user_id": "1", "x": _Evil(command)}, 4).hex(),
    }
