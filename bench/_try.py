import json, time
from bench.harness import BenchStack, measure
from bench.storefront import Storefront, basket
with BenchStack() as b:
    sf = Storefront(b.client())
    print(sf.call("GET", "/v1/health"))
    r, log, inv = measure(b, lambda: sf.signup("c-1", "ann@example.com"))
    print(r.status, r.body, dict(log.calls), log.rru, log.wru, inv)
    r, log, inv = measure(b, lambda: sf.signup("c-2", "bob@example.com"))
    print(r.status, r.body, dict(log.calls), log.rru, log.wru, inv)
    r, log, inv = measure(b, lambda: sf.summary("c-2"))
    print(r.status, r.body, dict(log.calls), log.rru, log.wru, inv)
    r, log, inv = measure(b, lambda: sf.order("c-2", "o-1", basket()))
    print(r.status, r.body, dict(log.calls), log.rru, log.wru, inv)
    print({k: [round(x) for x in v] for k, v in b.invocations.items()})
