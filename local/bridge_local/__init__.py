"""The embedded default: loyalty-bridge on 127.0.0.1 with moto, no AWS account, no Docker.

``python -m bridge_local`` (``make run``) starts it; ``LocalStack`` / ``LocalStackProcess``
(stack.py) start it from code; ``SignedClient`` (client.py) talks to it.
"""
