"""python -m tests.fake_talon_one [--host 127.0.0.1] [--port 8091] [--api-key KEY]

Runs the fake Talon.One Integration API (loyalty program id 7) until Ctrl-C."""

from __future__ import annotations

import argparse
import threading

from tests.fake_talon_one import DEFAULT_API_KEY, PROGRAM_ID, FakeTalonOne, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_talon_one")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    args = parser.parse_args(argv)
    server = serve(FakeTalonOne(api_keys={args.api_key}), host=args.host, port=args.port)
    print(f"fake Talon.One on {server.url} (program {PROGRAM_ID}); Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
