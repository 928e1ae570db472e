"""A fake Talon.One Integration API over real HTTP, checked against the official schemas
(spec/: an excerpt of talon-one/t1-openapi-specs, see spec/README.md)."""

from tests.fake_talon_one.campaign import PROGRAM_ID, REFERRAL_CAMPAIGN_ID
from tests.fake_talon_one.server import DEFAULT_API_KEY, FakeTalonOne, TalonOneServer, serve

__all__ = ["DEFAULT_API_KEY", "PROGRAM_ID", "REFERRAL_CAMPAIGN_ID", "FakeTalonOne", "TalonOneServer", "serve"]
