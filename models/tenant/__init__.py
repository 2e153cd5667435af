"""Tables that exist once per tenant schema (schema=None, placed per session)."""

from models.tenant.audit import AuditLog
from models.tenant.campaigns import Campaign, CampaignList, CampaignRecipient
from models.tenant.conversations import Conversation, Message
from models.tenant.customers import Contact, Customer, CustomerTag, CustomField, Segment, Tag, Wallet
from models.tenant.imports import ImportJob, MappingPreset
from models.tenant.messaging import Channel, ConsentEvent, WebhookReceipt
from models.tenant.notifications import Notification
from models.tenant.preferences import UserPreference
from models.tenant.sales import Opportunity, Pipeline, Stage, StageHistory
from models.tenant.scheduling import ScheduledMessage
from models.tenant.templates import Template
from models.tenant.timeline import Appointment, Interaction, Note
from models.tenant.workspace import BulkJob, CustomerWord, SearchWord

__all__ = [
    "Appointment",
    "AuditLog",
    "BulkJob",
    "Campaign",
    "CampaignList",
    "CampaignRecipient",
    "Channel",
    "ConsentEvent",
    "Contact",
    "Conversation",
    "CustomField",
    "Customer",
    "CustomerTag",
    "CustomerWord",
    "ImportJob",
    "Interaction",
    "MappingPreset",
    "Message",
    "Note",
    "Notification",
    "Opportunity",
    "Pipeline",
    "ScheduledMessage",
    "SearchWord",
    "Segment",
    "Stage",
    "StageHistory",
    "Tag",
    "Template",
    "UserPreference",
    "Wallet",
    "WebhookReceipt",
]
