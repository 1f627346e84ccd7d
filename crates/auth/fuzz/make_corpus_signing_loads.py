"""Writes the seed corpus of the `signing_loads` fuzz target with a real Django (run from the repo root:
.venv/django-5.2/bin/python crates/auth/fuzz/make_corpus_signing_loads.py). The key is the one the target uses."""

import base64
import os
import sys
import zlib
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "django"))
from oracle import registry  # noqa: E402,F401

from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core import signing  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

out = Path(__file__).parent / "corpus" / "signing_loads"
out.mkdir(parents=True, exist_ok=True)
cases = {}

with override_settings(SECRET_KEY="fuzz-secret", SECRET_KEY_FALLBACKS=["old"]), mock.patch("time.time", return_value=1.7e9):
    login = {"_auth_user_id": "1", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend", "_auth_user_hash": "0" * 64}
    cases["db_login"] = SessionStore().encode(login)
    cases["db_empty"] = SessionStore().encode({})
    cases["db_unicode"] = SessionStore().encode({"name": "Zoë 😀", "floats": [0.1, 1e300, -0.0], "big": 2**70})
    cases["signed_cookie"] = signing.dumps(login, compress=True, salt="django.contrib.sessions.backends.signed_cookies")
    cases["plain_dumps"] = signing.dumps({"a": [1, 2, 3]}, salt="django.contrib.sessions.SessionStore")
    with override_settings(SECRET_KEY="old"):
        cases["db_old_key"] = SessionStore().encode(login)
    cases["tampered"] = cases["db_login"][:-3] + "AAA"
    cases["truncated"] = cases["db_login"][: len(cases["db_login"]) // 2]
    cases["no_separator"] = "eyJhIjoxfQ"
    cases["bad_timestamp"] = "eyJhIjoxfQ:!!!!:" + "A" * 43
    # Past-the-signature payloads (the target also decodes the input as a bare payload).
    cases["payload_bomb"] = "." + base64.urlsafe_b64encode(zlib.compress(b" " * (20 * 1024 * 1024), 9)).decode().rstrip("=")
    cases["payload_bad_zlib"] = ".eJzLSM3JyVcozy_KSQEAGgQEXQ"
    cases["payload_deep_json"] = base64.urlsafe_b64encode(b"[" * 5000).decode().rstrip("=")
    cases["json_huge_number"] = "1" + "0" * 5000
    cases["json_lone_surrogate"] = '"\\ud800"'
    cases["json_latin1"] = '{"k":"\xe9\xff"}'
    cases["legacy"] = base64.b64encode(b"0" * 40 + b':{"a":1}').decode()
    cases["legacy_pickle"] = base64.b64encode(b"0" * 40 + b":\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94.").decode()

for name, value in cases.items():
    (out / name).write_bytes(value.encode("latin-1") if name == "json_latin1" else value.encode("utf-8"))
print(f"wrote {len(cases)} files to {out}")
