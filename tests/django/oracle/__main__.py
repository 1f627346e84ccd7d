"""A real Django, answering questions from the Rust tests.

Run as ``python -m oracle`` (from tests/django). It reads one JSON request per line on stdin and writes one
JSON answer per line on stdout:

    request:  {"op": "signing.dumps", "settings": {...}, "args": {...}}
    answer:   {"ok": <result>}  or  {"error": "<ExceptionType>: <message>"}

Bytes travel as lowercase hex strings. ``settings`` are applied with Django's ``override_settings`` for that
one request only, so each test states the configuration it depends on. The handlers live in the ``ops_*``
modules; each registers its operations with ``@op("name")``.
"""

import json
import sys
import traceback

from . import registry  # noqa: F401  (configures Django before anything imports models)
from . import (  # noqa: F401  (register the operations)
    ops_core,
    ops_hashers,
    ops_pickle,
    ops_validation,
    ops_validators,
)


def main():
    from django.test.utils import override_settings

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
            handler = registry.OPS[request["op"]]
            with override_settings(**request.get("settings", {})):
                answer = {"ok": handler(**request.get("args", {}))}
        except Exception as exc:  # the Rust side asserts on the type and message
            answer = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
