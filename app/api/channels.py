"""REST routes for channels (sending identities): thin calls into `app.messaging.channels`."""

from fastapi import APIRouter, Response

from app.api.deps import TenantActor, TenantDB
from app.messaging import channels
from app.validation import Id, Str10

router = APIRouter(prefix="/api", tags=["canais"])


@router.get("/canais", response_model=list[channels.ChannelOut])
def list_channels(actor: TenantActor, db: TenantDB, medium: Str10 | None = None) -> list[channels.ChannelOut]:
    return channels.list_channels(db, actor, medium=medium)


@router.post("/canais", response_model=channels.ChannelOut, status_code=201)
def create_channel(body: channels.ChannelIn, actor: TenantActor, db: TenantDB) -> channels.ChannelOut:
    return channels.to_out(channels.create_channel(db, actor, body))


@router.get("/canais/{channel_id:int}", response_model=channels.ChannelOut)
def get_channel(channel_id: Id, actor: TenantActor, db: TenantDB) -> channels.ChannelOut:
    return channels.to_out(channels.get_channel(db, actor, channel_id))


@router.put("/canais/{channel_id:int}", response_model=channels.ChannelOut)
def update_channel(
    channel_id: Id, body: channels.ChannelUpdate, actor: TenantActor, db: TenantDB
) -> channels.ChannelOut:
    return channels.to_out(channels.update_channel(db, actor, channel_id, body))


@router.delete("/canais/{channel_id:int}", status_code=204, response_model=None, response_class=Response)
def delete_channel(channel_id: Id, actor: TenantActor, db: TenantDB) -> None:
    channels.delete_channel(db, actor, channel_id)
