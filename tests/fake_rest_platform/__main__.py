"""python -m tests.fake_rest_platform [--host 127.0.0.1] [--port 8089] [--token TOKEN]

Runs the fake platform until Ctrl-C. Inject faults over HTTP, e.g.
    curl -X POST localhost:8089/_fake/faults -d '{"kind": "status", "status": 503, "times": 2}'
    curl localhost:8089/_fake/requests
"""

from __future__ import annotations

import argparse
import threading

from tests.fake_rest_platform.server import DEFAULT_TOKEN, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_rest_platform", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    args = parser.parse_args(argv)
    server = serve(token=args.token, host=args.host, port=args.port)
    print(f"fake loyalty platform on {server.url} (bearer token {args.token!r}); Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
