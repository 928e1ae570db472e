"""Benchmarks and the fault-injection soak (``make bench``, ``make soak``).

The bench runs the functions in this process (the local stack's in-process runtime), so the
Powertools objects that ``loyalty_bridge.observability`` builds at import must see the
template's service name and metric namespace before anything imports it.
"""

import os

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "loyalty-bridge")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LoyaltyBridge")
