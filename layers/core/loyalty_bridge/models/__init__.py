"""The bridge's pydantic models.

Every model is declared with ``defer_build=True``: its validator is built the first time it
is used, not at import. A function imports modules whose models serve other functions and
routes too (about 90 models for an API function); deferred, a cold start builds only the
models its request touches, and a model the function never uses is never built. The
settings and signing-key models are used by every first request and are built at import.
"""
