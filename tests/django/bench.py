"""The benchmarked operations, done by Django itself, timed with timeit. Prints JSON: {name: ns per op}.

Run with a venv python from tests/django (``python bench.py``); `make bench` does it and prints the ratio.
"""

import json
import timeit

from oracle import registry  # noqa: F401  (configures Django)

from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache.backends.redis import RedisSerializer
from django.utils.crypto import constant_time_compare

ENCODED = "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv$ESUkIq3XvMIs+R/ZmdQSkE1EDQIVk18SzognBfgBuPQ="
USER = User(pk=1, password=ENCODED)
SESSION = {
    "_auth_user_id": "1",
    "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
    "_auth_user_hash": USER.get_session_auth_hash(),
}
BLOB = RedisSerializer().dumps(SESSION)
ROW = SessionStore().encode(SESSION)
SERIALIZER = RedisSerializer()


def cache_decode_and_verify():
    """What django.contrib.auth.get_user does with a cache session once Redis answered."""
    session = SERIALIZER.loads(BLOB)
    return constant_time_compare(session["_auth_user_hash"], USER.get_session_auth_hash())


def db_loads():
    return SessionStore().decode(ROW)


def per_op_ns(fn, number=20000, repeat=5):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e9


assert cache_decode_and_verify() and db_loads() == SESSION
print(json.dumps({"cache_decode_and_verify": per_op_ns(cache_decode_and_verify), "db_loads": per_op_ns(db_loads)}))
