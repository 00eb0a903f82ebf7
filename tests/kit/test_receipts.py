"""Receipts: unguessable, and in the order they were given."""

from __future__ import annotations

import re

from services.common.receipts import new_receipt


def test_receipts_are_24_hex_digits_in_the_order_given_and_never_alike():
    receipts = [new_receipt() for _ in range(20_000)]
    assert all(re.fullmatch(r"[0-9a-f]{24}", receipt) for receipt in receipts)
    assert len(set(receipts)) == len(receipts)
    # The moment comes first: a later receipt never sorts before an earlier millisecond.
    moments = [receipt[:12] for receipt in receipts]
    assert moments == sorted(moments)
    # Within one millisecond, 48 random bits: not a counter.
    same_moment = [receipt[12:] for receipt in receipts if receipt[:12] == moments[-1]]
    assert len(set(same_moment)) == len(same_moment)
