"""The loyalty program's rules as pure code over plain values: no I/O, no AWS.

earn_rules (earning, tiers, redemption share; the program JSON), point_lots (R3 points by
credit day), card_numbers (A4), order_lines (C4 line shaping), referrals (R5 codes),
rewards (R4 coupon codes, next reward) and account (the built-in platform's account
rules: settlement, holds, orders, reversals, coupons, referral bonus, merges). Services
and platform adapters use them; they use nothing of services/ or adapters/.
"""
