"""REST routes for conversations (the inbox): thin calls into `app.crm.conversations`."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.api.deps import TenantActor, TenantDB
from app.crm import conversations
from app.validation import Id, Str20
from models.tenant import Message

router = APIRouter(prefix="/api", tags=["conversas"])


class AssignBody(BaseModel):
    user_id: Id


class ResolvedOut(BaseModel):
    id: int
    status: str


class AssignedOut(BaseModel):
    id: int
    assignee_id: int | None


@router.get("/conversas", response_model=list[conversations.ConversationRow])
def list_conversations(
    actor: TenantActor,
    db: TenantDB,
    status: Str20 | None = None,
    mine: bool = False,
    customer_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[conversations.ConversationRow]:
    return conversations.list_conversations(
        db, actor, status=status, mine=mine, customer_id=customer_id, limit=limit
    )


@router.get("/conversas/{conversation_id:int}", response_model=conversations.ConversationDetail)
def get_conversation(
    conversation_id: Id, actor: TenantActor, db: TenantDB
) -> conversations.ConversationDetail:
    return conversations.get_conversation(db, actor, conversation_id)


@router.post("/conversas/{conversation_id:int}/responder", response_model=Message, status_code=201)
def reply(conversation_id: Id, body: conversations.ReplyIn, actor: TenantActor, db: TenantDB) -> Message:
    return conversations.reply(db, actor, conversation_id, body)


@router.post("/conversas/{conversation_id:int}/resolver", response_model=ResolvedOut)
def resolve(conversation_id: Id, actor: TenantActor, db: TenantDB) -> dict[str, Any]:
    conv = conversations.resolve(db, actor, conversation_id)
    return {"id": conv.id, "status": conv.status}


@router.post("/conversas/{conversation_id:int}/atribuir", response_model=AssignedOut)
def assign(conversation_id: Id, body: AssignBody, actor: TenantActor, db: TenantDB) -> dict[str, Any]:
    conv = conversations.assign(db, actor, conversation_id, body.user_id)
    return {"id": conv.id, "assignee_id": conv.assignee_id}
