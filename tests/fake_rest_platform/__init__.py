"""A fake external loyalty platform over real HTTP (contracts/platform-openapi.yaml).

    server = serve()                       # InMemoryPlatform behind it, a free port
    server.inject(Fault(kind="status", status=503, times=2, operation="postOrder"))
    ...
    server.stop()

Standalone (for manual runs against the local stack): ``python -m tests.fake_rest_platform``.
"""

from tests.fake_rest_platform.faults import Fault, FaultKind
from tests.fake_rest_platform.server import DEFAULT_TOKEN, FakePlatformServer, RecordedRequest, serve

__all__ = ["DEFAULT_TOKEN", "FakePlatformServer", "Fault", "FaultKind", "RecordedRequest", "serve"]
