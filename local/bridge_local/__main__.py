"""``python -m bridge_local`` / ``bridge-local`` / ``make run``: the whole API on 127.0.0.1."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path

from bridge_local.platforms import PLATFORMS, LocalPlatform, start_platform
from bridge_local.runtime import DEFAULT_CONTAINERS
from bridge_local.template import DEFAULT_TEMPLATE, PROJECT_ROOT

# make run's program (R9 seed): three tiers, category, sku and visit rules, two rewards,
# 12-month expiry, a referral bonus, so a newcomer's first summary shows all of them.
SAMPLE_PROGRAM = Path(__file__).with_name("sample_program.json")
EARN_RULES_PARAM = "EarnRulesJson"


def sample_program_json() -> str:
    """The sample program as one line of JSON (a template parameter value)."""
    return json.dumps(json.loads(SAMPLE_PROGRAM.read_text(encoding="utf-8")), separators=(",", ":"))


def with_sample_program(parameters: dict[str, str], *, enabled: bool) -> dict[str, str]:
    """``parameters`` with EarnRulesJson set to the sample unless given (or disabled)."""
    if not enabled or EARN_RULES_PARAM in parameters:
        return parameters
    return {**parameters, EARN_RULES_PARAM: sample_program_json()}


def _pairs(values: list[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"expected KEY=VALUE, got {item!r}")
        result[key] = value
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridge-local",
        description="Run loyalty-bridge locally: moto + every template.yaml resource, the HTTP API, "
        "the SQS workers and schedules; mail and SMS captured to files. No AWS account, no Docker.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("BRIDGE_LOCAL_PORT", "3000")),
        help="HTTP API port (0: a free one)",
    )
    parser.add_argument(
        "--moto-port",
        type=int,
        default=int(os.environ.get("BRIDGE_LOCAL_MOTO_PORT", "0")),
        help="moto server port (0: a free one)",
    )
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument(
        "--state-dir", type=Path, default=PROJECT_ROOT / ".local", help="where mail/ and sms/ are written"
    )
    parser.add_argument("--stack-name", default="loyalty-bridge")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter override, e.g. AutoJoin=false",
    )
    parser.add_argument(
        "--sample-program",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"start with {SAMPLE_PROGRAM.name} as EarnRulesJson unless --param EarnRulesJson=... is given "
        "(--no-sample-program: the template default, as the test stacks run)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="function environment override, e.g. AUTO_JOIN=false",
    )
    parser.add_argument(
        "--platform",
        choices=PLATFORMS,
        default="ledger",
        help="loyalty platform: the built-in ledger, or talon-one (starts the fake Talon.One "
        "of tests/fake_talon_one and points the Talon.One adapter at it)",
    )
    parser.add_argument(
        "--platform-url",
        default=None,
        metavar="URL",
        help="with --platform talon-one: a Talon.One already running instead of starting the fake",
    )
    parser.add_argument(
        "--platform-key",
        default=None,
        metavar="KEY",
        help="with --platform talon-one: its Integration API key (default: the fake's)",
    )
    parser.add_argument(
        "--visibility-seconds",
        type=int,
        default=None,
        help="visibility timeout after a failed record (env BRIDGE_LOCAL_VISIBILITY_SECONDS, default 2)",
    )
    parser.add_argument(
        "--schedule-speedup",
        type=float,
        default=None,
        help="run rate(...) schedules N times faster (env BRIDGE_LOCAL_SCHEDULE_SPEEDUP, default 1)",
    )
    parser.add_argument(
        "--containers",
        type=int,
        default=None,
        metavar="N",
        help="warm containers per function, as Lambda scales out (env BRIDGE_LOCAL_CONTAINERS, "
        f"default {DEFAULT_CONTAINERS})",
    )
    parser.add_argument(
        "--ready-file", type=Path, help="write the stack's coordinates as JSON here when ready"
    )
    parser.add_argument("--no-banner", action="store_true")
    parser.add_argument(
        "--exit-with-parent", action="store_true", help="stop when the parent process goes away (test runs)"
    )
    parser.add_argument("--log-level", default=os.environ.get("BRIDGE_LOCAL_LOG_LEVEL", "INFO"))
    return parser


def platform_lines(platform: LocalPlatform) -> list[str]:
    if platform.name == "ledger":
        return ["  platform    the built-in ledger (LedgerTable in moto)"]
    where = "fake Talon.One (tests/fake_talon_one)" if platform.started_here else "Talon.One"
    return [
        f"  platform    {where} on {platform.url}",
        f"              loyalty program {platform.program_id}, Authorization: ApiKey-v1 {platform.api_key}",
    ]


def banner(stack: object, platform: LocalPlatform | None = None) -> str:
    from bridge_local.stack import LocalStack

    assert isinstance(stack, LocalStack)
    lines = [
        "",
        "loyalty-bridge is running locally (Ctrl-C to stop)",
        f"  API         {stack.base_url}   (try: curl {stack.base_url}/v1/health)",
        f"  pages       {stack.base_url}/demo/ (storefront)  {stack.base_url}/admin/  {stack.base_url}/docs",
        f"  AWS (moto)  {stack.moto_url}   (aws --endpoint-url {stack.moto_url} ...)",
        *platform_lines(platform or LocalPlatform(name="ledger")),
    ]
    for key in stack.keys:
        lines.append(f"  signing key id={key.key_id!r} scope={key.scope} secret={key.secret!r}")
    lines += [
        "    (set BRIDGE_LOCAL_SECRET / BRIDGE_LOCAL_ADMIN_SECRET to choose the secrets)",
        f"  mail        {stack.mail_dir}/*.eml",
        f"  SMS         {stack.sms_dir}/*.json",
        '  try         .venv/bin/bridge-call POST /v1/customers \'{"customer_id": "c-1", '
        '"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"}\'',
        "",
    ]
    assert stack.runtime is not None
    broken = {lid: c.load_error for lid, c in stack.runtime.containers.items() if c.load_error}
    for lid, error in broken.items():
        lines.append(f"  WARNING: {lid} did not load: {error}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s bridge-local %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("werkzeug", "botocore", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from bridge_local.stack import LocalStack

    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    if args.exit_with_parent:
        parent = os.getppid()

        def _watch_parent() -> None:
            while not stop.wait(1.0):
                if os.getppid() != parent:
                    stop.set()

        threading.Thread(target=_watch_parent, name="parent-watch", daemon=True).start()

    platform = start_platform(args.platform, url=args.platform_url, api_key=args.platform_key, host=args.host)
    stack = LocalStack(
        template=args.template,
        host=args.host,
        port=args.port,
        moto_port=args.moto_port,
        state_dir=args.state_dir,
        stack_name=args.stack_name,
        parameter_overrides=with_sample_program(
            {**platform.parameters, **_pairs(args.param)}, enabled=args.sample_program
        ),
        env_overrides=_pairs(args.env),
        visibility_seconds=args.visibility_seconds,
        schedule_speedup=args.schedule_speedup,
        secret_values=platform.secrets,
        containers=args.containers,
    )
    try:
        stack.start()
    except OSError as exc:
        print(
            f"bridge-local: cannot start: {exc} (is port {args.port} in use? try --port 0)", file=sys.stderr
        )
        stack.stop()
        platform.stop()
        return 1
    try:
        if not args.no_banner:
            print(banner(stack, platform), flush=True)
        if args.ready_file:
            info = {
                "base_url": stack.base_url,
                "moto_url": stack.moto_url,
                "region": stack.region,
                "stack_name": stack.stack_name,
                "pid": os.getpid(),
                "keys": [asdict(k) for k in stack.keys],
                "mail_dir": str(stack.mail_dir),
                "sms_dir": str(stack.sms_dir),
                "platform": platform.describe(),
            }
            tmp = args.ready_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(info, indent=2))
            tmp.replace(args.ready_file)
        stop.wait()
    finally:
        logging.getLogger("bridge_local").info("stopping")
        stack.stop()
        platform.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
