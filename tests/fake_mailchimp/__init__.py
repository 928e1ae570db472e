"""A fake Mailchimp Marketing API v3 over real HTTP on loopback (see server.py)."""

from tests.fake_mailchimp.server import FakeMailchimp, RecordedRequest, subscriber_hash, webhook_form

__all__ = ["FakeMailchimp", "RecordedRequest", "subscriber_hash", "webhook_form"]
