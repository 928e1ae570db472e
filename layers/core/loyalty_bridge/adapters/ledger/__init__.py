"""The built-in loyalty platform: members, cards and an append-only points ledger in DynamoDB.

LedgerTable layout (pk / sk, gsi1pk / gsi1sk):

    MEMBER#{id}      PROFILE          profile, consents, card, referral_code, referred_by;
                                      gsi1 MOBILE#{mobile} (A8 lookups)
    MEMBER#{id}      ACCOUNT          available, held, lifetime_spend, points_by_day, version;
                                      gsi1 EXPIRY#DUE / {first expiry}#{id} when points can expire
    MEMBER#{id}      HOLD#{rid}       a redemption hold (C2); gsi1 HOLDS#OPEN / {expires_at} while open
    MEMBER#{id}      LOT#{order_id}   points still pending (return window) and when they mature
    CARD#{number}    CARD             kind, state, member_id (uniqueness of card numbers);
                                      blocked_reason, replaced_by (A10)
    EMAIL#{email}    EMAIL            member_id (one account per email, case-insensitive)
    ENTRY#{id}       ENTRY            ledger entry keyed by its business id; gsi1 ENTRIES#{member}
    ORDER#{id}       ORDER            what an order earned, per sku, and what was reversed
    REQUEST#{op}#{key} REQUEST        first answer of a keyed non-balance write (replays)
    REFERRAL#{code}  REFERRAL         member_id (R5: the member's referral code, unique)
    STATS#{shard}    DAY#{day}        the day's counters (R6), written with the entries (stats.py)
    COUPONS#{id}     {issued}#{v}#{code} a coupon issued for a reward (R4), newest last
    COUPON#{code}    COUPON           member_id (coupon codes are unique)

Every change to a balance is ONE ``TransactWriteItems``: the entry is put with
``attribute_not_exists`` (so a replay is a no-op that answers like the first time) and the
ACCOUNT item is updated under ``version = :seen`` with values computed (never negative)
from that version. A version race is retried from a fresh read. Expired holds and matured
pending points are settled inside the same transaction as the next write; reads treat them
as settled already. Points past their expiry (R3, program/point_lots: the balance is kept
by credit day, spent and expired oldest first) are expired in the same transaction as the
next write, or by a write of their own when a read or the sweeper (``expire_points``)
finds them, so a balance shown is always a balance stored. Balance = available + held =
sum of the member's entries.

The rules (settlement, holds, orders, reversals, coupons, referral bonus, merges) are
``program/account.py``; this package reads, writes and retries. Modules: ``table`` (codec,
keys, transactions, retries), ``accounts`` (an Account in and out of the table; the expiry
sweep), ``members`` (members and cards), ``merges`` (A8), ``points`` (balance, quote,
holds), ``orders`` (orders, reversals, coupon use, referral bonus), ``rewards`` (R4),
``activity`` (adjustments R7, the history R8, stats R6), ``stats`` (the day's counters).
Each entry carries what the history shows (kind, points in and out, balance after, ids).
``lifecycle`` (A10: block and replace a card), ``erasure`` (D2: the person goes, the money
trail stays under the member id), ``imports`` (seed 002: members brought over with their cards
and opening balances; PROFILE ``imported_from``, ENTRY ``opening:{card}``).
"""

from __future__ import annotations

from loyalty_bridge.adapters.ledger.activity import LedgerActivity
from loyalty_bridge.adapters.ledger.erasure import LedgerErasure
from loyalty_bridge.adapters.ledger.imports import LedgerImports
from loyalty_bridge.adapters.ledger.lifecycle import LedgerLifecycle
from loyalty_bridge.adapters.ledger.merges import LedgerMerges
from loyalty_bridge.adapters.ledger.orders import LedgerOrders
from loyalty_bridge.adapters.ledger.points import LedgerPoints
from loyalty_bridge.adapters.ledger.rewards import LedgerRewards

__all__ = ["DynamoDbLedger"]


class DynamoDbLedger(
    LedgerMerges,
    LedgerImports,
    LedgerLifecycle,
    LedgerPoints,
    LedgerOrders,
    LedgerRewards,
    LedgerActivity,
    LedgerErasure,
):
    """``ports.LoyaltyPlatform`` implemented by the bridge itself on LedgerTable."""
