"""`make lint`'s check of the forward-auth configurations that `make test` cannot run (deploy/forward-auth/):
Traefik and Envoy are not Debian packages. nginx's and Caddy's files run for real in the cross-service suite.

- envoy.yaml is parsed into Envoy's own API messages (`envoy.config.bootstrap.v3.Bootstrap`, from the
  xds-protos package: Envoy's protos as grpc publishes them), every `typed_config` into the message its
  `@type` names: an unknown field, a wrong type or an unknown enum value fails. Envoy's runtime checks (a
  cluster a route names exists, validation rules) are not run.
- traefik.yml is type-checked with tsc against Traefik v3's file-provider schema (SchemaStore's, as the
  TypeScript types of @schemastore/traefik-v3-file-provider): an unknown option of a middleware, router or
  service, or a wrong type, fails. Traefik's runtime checks (a rule's syntax) are not run.

Usage: python scripts/check-proxy-configs.py <tools dir for npm>  (with the lint venv's Python: PyYAML and
xds-protos from .ci/lint-requirements.txt)
"""

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "forward-auth"
# Pinned, as the lint venv's packages are.
NPM_PACKAGES = ["typescript@5.9.3", "@schemastore/traefik-v3-file-provider@1.0.2"]


def type_urls(value):
    """Every `@type` in the document."""
    if isinstance(value, dict):
        if "@type" in value:
            yield value["@type"]
        for item in value.values():
            yield from type_urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from type_urls(item)


def check_envoy():
    from google.protobuf import json_format

    from envoy.config.bootstrap.v3 import bootstrap_pb2

    config = yaml.safe_load((DEPLOY / "envoy.yaml").read_text())
    # The messages `typed_config` names must be in the descriptor pool: import their packages' modules.
    for url in set(type_urls(config)):
        package = url.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        module = importlib.import_module(package)
        for info in pkgutil.iter_modules(module.__path__):
            importlib.import_module(f"{package}.{info.name}")
    bootstrap = json_format.ParseDict(config, bootstrap_pb2.Bootstrap())
    listeners = len(bootstrap.static_resources.listeners)
    clusters = len(bootstrap.static_resources.clusters)
    print(f"envoy.yaml: a valid Bootstrap ({listeners} listener, {clusters} clusters)")


def check_traefik(tools: Path):
    tools.mkdir(parents=True, exist_ok=True)
    tsc = tools / "node_modules" / ".bin" / "tsc"
    stamp = tools / "installed.txt"
    if not tsc.exists() or not stamp.exists() or stamp.read_text() != " ".join(NPM_PACKAGES):
        subprocess.run(
            ["npm", "install", "--prefix", str(tools), "--no-audit", "--no-fund", "--silent", *NPM_PACKAGES],
            check=True,
        )
        stamp.write_text(" ".join(NPM_PACKAGES))
    config = yaml.safe_load((DEPLOY / "traefik.yml").read_text())
    check = tools / "check.ts"
    check.write_text(
        'import type { HttpsJsonSchemastoreOrgTraefikV3FileProviderJson as Config } from '
        '"@schemastore/traefik-v3-file-provider";\n'
        f"export const config: Config = {json.dumps(config, indent=2)};\n"
    )
    result = subprocess.run(
        [str(tsc), "--noEmit", "--strict", "--moduleResolution", "node", str(check)],
        cwd=tools,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"traefik.yml does not match Traefik v3's file-provider schema:\n{result.stdout}{result.stderr}")
    middlewares = ", ".join(config["http"]["middlewares"])
    print(f"traefik.yml: matches Traefik v3's file-provider schema (middlewares: {middlewares})")


if __name__ == "__main__":
    check_envoy()
    check_traefik(Path(sys.argv[1]))
