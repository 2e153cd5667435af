"""Message templates (e-mail / WhatsApp) with Portuguese variables like {{razao_social}}."""

from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from models.base import created_at, pk, text_array, updated_at


class Template(SQLModel, table=True):
    __tablename__ = "templates"

    id: int | None = pk()
    name: str = Field(sa_column=Column(String(120), nullable=False, unique=True))
    channel: str = Field(max_length=20)  # email | whatsapp
    subject: str | None = Field(default=None, max_length=300)
    body: str
    variables: list[str] = text_array()
    # For Meta Cloud API: the approved template name / language and its review status.
    provider_name: str | None = Field(default=None, max_length=200)
    language: str = Field(default="pt_BR", max_length=10)
    approval_status: str | None = Field(default=None, max_length=20)
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()
