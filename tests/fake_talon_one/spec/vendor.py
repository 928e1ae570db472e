"""Regenerate integration-api.yaml from the published Talon.One Integration API description.

    git clone https://github.com/talon-one/t1-openapi-specs /tmp/t1
    python -m tests.fake_talon_one.spec.vendor /tmp/t1 [commit]

Keeps only the operations the adapter calls (OPERATIONS), with their parameters, request
bodies and responses exactly as published, minus prose and samples (``description``,
``summary``, ``example(s)``, ``title``, ``x-*`` annotations: none of them constrains an
instance). Property NAMES are kept whatever they are (a property may be called
``description``). Run it again to follow a new revision of the spec; README.md records the
revision in use.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
OUT = HERE / "integration-api.yaml"
# path template -> the methods we call on it
OPERATIONS: dict[str, tuple[str, ...]] = {
    "/v2/customer_profiles/{integrationId}": ("put",),
    "/v1/customer_profiles/{integrationId}/inventory": ("get",),
    "/v1/loyalty_programs/{loyaltyProgramId}/cards": ("post",),
    "/v1/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/balances": ("get",),
    "/v1/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/transactions": ("get",),
    "/v2/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/link_profile": ("post",),
    "/v2/customer_sessions/{customerSessionId}": ("put",),
    "/v2/customer_sessions/{customerSessionId}/returns": ("post",),
    "/v1/referrals": ("post",),
    "/v1/customer_data/{integrationId}": ("delete",),  # D2: erasure (GDPR Art. 17)
}
_PROSE = {"description", "summary", "example", "examples", "title", "externalDocs"}


def strip(node: Any, *, names: bool = False) -> Any:
    """Drop annotations; under ``properties`` the keys are property names and all stay."""
    if isinstance(node, dict):
        kept: dict[str, Any] = {}
        for key, value in node.items():
            if not names and (key in _PROSE or key.startswith("x-")):
                continue
            kept[key] = strip(value, names=(key == "properties" and not names))
        return kept
    if isinstance(node, list):
        return [strip(item) for item in node]
    return node


def git_show(repo: Path, commit: str, path: str) -> str:
    command = ["git", "-C", str(repo), "show", f"{commit}:{path}"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603


def main(argv: list[str]) -> None:
    repo = Path(argv[0])
    commit = argv[1] if len(argv) > 1 else "HEAD"
    root = yaml.safe_load(git_show(repo, commit, "integration-api/openapi.yaml"))
    paths: dict[str, Any] = {}
    for template, methods in OPERATIONS.items():
        ref = root["paths"][template]["$ref"].strip()
        item = yaml.safe_load(git_show(repo, commit, f"integration-api/{ref}"))
        paths[template] = {method: strip(item[method]) for method in methods}
    document = {
        "openapi": root["openapi"],
        "info": {"title": root["info"]["title"], "version": root["info"].get("version", "")},
        "servers": root.get("servers", []),
        "security": root.get("security", []),
        "paths": paths,
        "components": {"securitySchemes": strip(root["components"]["securitySchemes"])},
    }
    OUT.write_text(
        "# Excerpt of the Talon.One Integration API description: see README.md (source, revision).\n"
        + yaml.safe_dump(document, sort_keys=False, width=120),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main(sys.argv[1:])
