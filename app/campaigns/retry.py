"""Retry a campaign's failed sends, all of them or those of one failure reason.

Only sends the provider never accepted go again: failed (including dead-lettered, after the outbox's last
attempt) with no `sent_at`. Never a sent one, and never one settled from `uncertain` (error code
`uncertain`: it may have arrived, and at most once beats twice). A retried recipient goes back to
pending with its generation bumped, so the feeder gives its new message a new idempotency key; its
frozen variables stay, so it gets exactly what the first pass would have sent.
"""

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlmodel import Session

from app.after_commit import enqueue_after_commit
from app.audit.log import record
from app.auth.actor import Actor
from app.campaigns import counters
from app.campaigns.service import FEED_TASK, CampaignOut, _get, view
from app.errors import Conflict, Invalid
from app.validation import Str60
from models.base import utcnow

OTHER = "erro"  # the reason of failures without a provider code
NOT_RETRYABLE = "uncertain"


class RetryIn(BaseModel):
    motivo: Str60 | None = Field(default=None, min_length=1)


class FailureReason(BaseModel):
    motivo: str
    descricao: str
    quantidade: int


def _retryable(schema: str) -> str:
    # The recipient's current message only: a retried one's old failure is no longer linked to it.
    return (
        f'FROM "{schema}".campaign_recipients r JOIN "{schema}".messages m ON m.id = r.message_id '
        "WHERE r.campaign_id = :c AND r.status = 'queued' AND m.status = 'failed' AND m.sent_at IS NULL "
        f"AND COALESCE(m.error_code, '') <> '{NOT_RETRYABLE}'"
    )


def failure_reasons(db: Session, actor: Actor, campaign_id: int) -> list[FailureReason]:
    """The retryable failures grouped by reason (the provider's code), most frequent first."""
    campaign = _get(db, actor, campaign_id)
    schema = db.info.get("schema") or ""
    rows = db.execute(
        text(
            f"SELECT COALESCE(m.error_code, '{OTHER}') AS reason, min(m.error) AS error, count(*) "
            f"{_retryable(schema)} GROUP BY 1 ORDER BY 3 DESC, 1"
        ),
        {"c": campaign.id},
    ).all()
    return [
        FailureReason(motivo=reason, descricao=error or "Falha no envio.", quantidade=n)
        for reason, error, n in rows
    ]


def retry_failed(db: Session, actor: Actor, campaign_id: int, reason: str | None = None) -> CampaignOut:
    """Put the campaign's retryable failed recipients (of one reason, or all) back in its queue."""
    campaign = _get(db, actor, campaign_id, lock=True)
    if campaign.status == "cancelled":
        raise Conflict("Campanhas canceladas não podem ser reenviadas.")
    schema = db.info.get("schema") or ""
    only = f"AND COALESCE(m.error_code, '{OTHER}') = :reason" if reason else ""
    # The messages are locked first: a late status webhook waits for this transaction instead of
    # moving a message whose recipient is being retried.
    retried = (
        db.execute(
            text(
                f"""
                WITH picked AS (
                    SELECT r.id {_retryable(schema)} {only}
                    FOR UPDATE OF r, m
                )
                UPDATE "{schema}".campaign_recipients r
                   SET status = 'pending', message_id = NULL, generation = r.generation + 1
                  FROM picked WHERE r.id = picked.id
                RETURNING r.id
                """
            ),
            {"c": campaign.id, "reason": reason},
        )
        .scalars()
        .all()
    )
    if not retried:
        raise Invalid("motivo", "Não há falhas para reenviar" + (" com esse motivo." if reason else "."))
    n = len(retried)
    counters.bump(db, campaign.id or 0, {"failed": -n, "pending": n})
    before = campaign.status
    if campaign.status == "done":
        campaign.status, campaign.finished_at = "running", None
    campaign.updated_at = utcnow()
    db.add(campaign)
    record(
        db,
        actor,
        "campaign.retry",
        "campaign",
        campaign.id,
        {"status": before},
        {"status": campaign.status, "reason": reason, "retried": n},
    )
    if campaign.status == "running":
        enqueue_after_commit(db, FEED_TASK, actor.schema, campaign.id)
    db.flush()
    db.refresh(campaign)
    return view(campaign)
