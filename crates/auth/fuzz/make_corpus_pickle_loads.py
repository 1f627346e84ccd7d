"""Writes the seed corpus of the `pickle_loads` fuzz target (run from the repo root:
.venv/django-5.2/bin/python crates/auth/fuzz/make_corpus_pickle_loads.py).

Real pickles from Python at protocols 0-5 (Django's cache serializers, and plain `pickle.dumps` of the
oracle's cases), malicious ones (made here, never loaded), and hand-made hostile ones: truncated, lying
length prefixes, deep nesting, memo abuse, cycles. Each file is named after what it holds; the replay test
(crates/auth/tests/fuzz_corpus_pickle.rs) asserts what the named ones must decode to."""

import os
import pickle
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "django"))
from oracle import registry  # noqa: E402,F401
from oracle.ops_pickle import CASES, LOGIN, _serializers  # noqa: E402

out = Path(__file__).parent / "corpus" / "pickle_loads"
out.mkdir(parents=True, exist_ok=True)
for old in out.iterdir():
    old.unlink()
seeds = {}

serializers = _serializers()
seeds["login_redis_cache"] = serializers["redis_cache"].dumps(dict(LOGIN))
seeds["login_django_redis"] = serializers["django_redis"].dumps(dict(LOGIN))
for protocol in range(4):
    seeds[f"login_p{protocol}"] = pickle.dumps(dict(LOGIN), protocol)

for name, protocols in {
    "session_mix": (0, 2, 4, 5),
    "nested": (0, 3),
    "ints": (0,),
    "floats": (0,),
    "unicode": (0, 5),
    "bytes": (2,),
    "bytearray": (2, 4, 5),
    "datetimes": (5,),
    "set": (2,),
    "instances": (4,),
    "keyword_only": (5,),
    "list_subclass": (1,),
    "shared_list": (5,),
}.items():
    obj = CASES[name]()
    for protocol in protocols:
        seeds[f"{name}_p{protocol}"] = pickle.dumps(obj, protocol)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/pickle-corpus-pwned",))


seeds["os_system_p5"] = pickle.dumps(Evil(), 5)
seeds["os_system_p0"] = pickle.dumps(Evil(), 0)
seeds["eval_in_session"] = b"\x80\x04}\x94\x8c\x01x\x94cbuiltins\neval\n\x8c\x0c__import__()\x85R\x94s."

login = seeds["login_redis_cache"]
seeds["truncated"] = login[: len(login) // 2]
seeds["frame_too_long"] = login[:3] + struct.pack("<Q", 2**62) + login[11:]
seeds["huge_binunicode8"] = b"\x80\x04\x8d" + struct.pack("<Q", 2**63) + b"x."
seeds["deep_lists"] = b"]" * 5000 + b"a" * 4999 + b"."
seeds["deep_marks"] = b"(" * 5000 + b"."
# x0 = []; x(i+1) = [x(i), x(i)]: 2**64 nodes as a tree from 600 bytes.
doubling = b"\x80\x04]q\x00"
for i in range(64):
    doubling += b"](h" + bytes([i]) + b"2eq" + bytes([i + 1]) + b"0"
seeds["memo_doubling"] = doubling + b"h\x40."
seeds["cycle"] = b"\x80\x04]\x94h\x00a."
seeds["duplicate_keys"] = b"\x80\x04}\x94(\x8c\r_auth_user_id\x94\x8c\x011\x94h\x01\x8c\x012\x94u."
seeds["persid"] = b"\x80\x04\x8c\x01x\x94Q."
seeds["ext1"] = b"\x80\x04\x82\x01."

for name, data in seeds.items():
    (out / name).write_bytes(data)
print(f"{len(seeds)} seeds in {out}")
