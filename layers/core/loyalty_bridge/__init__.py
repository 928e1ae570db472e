"""loyalty-bridge core package: shared by every Lambda (the core layer) and the local stack."""
