"""A campaign's counters, kept on its row and changed by deltas (never recounted): the detail page of a
500k-recipient campaign reads one row while workers send.

`sent`, `delivered` and `read` are cumulative (a read message is also delivered and sent); `queued` is what
is in the outbox now; `failed` and `skipped` are final. Progress = (sent + failed + skipped) / total.
"""

from collections import Counter
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

KEYS = (
    "total",
    "pending",
    "queued",
    "sent",
    "delivered",
    "read",
    "failed",
    "skipped",
    "skipped_opted_out",
    "skipped_no_contact",
    "replied",
    "opened",
    "clicked",
)
# What moving one message from a status to another changes (outbox statuses, see models Message).
_RANK = {"queued": 0, "reserved": 0, "uncertain": 0, "sent": 1, "delivered": 2, "read": 3}


def transition(old: str, new: str) -> Counter[str]:
    delta: Counter[str] = Counter()
    if new == old:
        return delta
    if new in ("failed", "skipped"):
        if _RANK.get(old, 0) == 0:
            delta["queued"] -= 1
        elif old not in ("failed", "skipped"):
            delta["sent"] -= 1  # accepted, then reported failed: counted once, as failed
            if _RANK[old] >= 2:
                delta["delivered"] -= 1
        delta[new] += 1
        return delta
    if new in _RANK and old in _RANK:
        before, after = _RANK[old], _RANK[new]
        if before == 0 and after >= 1:
            delta["queued"] -= 1
        for level, key in ((1, "sent"), (2, "delivered"), (3, "read")):
            if before < level <= after:
                delta[key] += 1
    return delta


def bump(db: Session, campaign_id: int, delta: Counter[str] | dict[str, int]) -> None:
    """Apply deltas in one UPDATE (the row lock is held for one statement per batch, not per message)."""
    changes = {k: int(v) for k, v in delta.items() if v}
    if not changes:
        return
    schema = db.info.get("schema")
    pairs = ", ".join(f"'{k}', COALESCE((counts->>'{k}')::bigint, 0) + :{k}" for k in changes if k in KEYS)
    if not pairs:
        return
    db.execute(
        text(
            f'UPDATE "{schema}".campaigns SET counts = counts || jsonb_build_object({pairs}) WHERE id = :id'
        ),
        {**changes, "id": campaign_id},
    )


def bump_many(db: Session, deltas: dict[int, Counter[str]]) -> None:
    for campaign_id in sorted(deltas):  # a fixed order: two workers never lock campaigns crosswise
        bump(db, campaign_id, deltas[campaign_id])


def read(counts: dict[str, Any]) -> dict[str, int]:
    return {k: int(counts.get(k, 0) or 0) for k in KEYS}
