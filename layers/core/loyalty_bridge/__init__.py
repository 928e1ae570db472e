"""loyalty-bridge core package: shared by every Lambda (the core layer) and the local stack."""

__version__ = "0.1.0"  # keep in step with pyproject.toml; GET /v1/health reports it
