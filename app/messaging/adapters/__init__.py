"""Provider adapters, one module per channel kind, built from a channel's decrypted configuration.

Imported lazily: a worker that only sends e-mail never imports the WhatsApp adapters (and vice versa).
Each adapter class takes the kind's config model (`app.messaging.kinds`) and the channel's mutable
provider state (e.g. WPPConnect's bearer token), which the caller persists after use.
"""

import importlib
from typing import Any

from pydantic import BaseModel

from app.messaging.protocol import ChannelAdapter

ADAPTERS: dict[str, str] = {
    "sandbox_whatsapp": "app.messaging.adapters.sandbox:SandboxAdapter",
    "sandbox_email": "app.messaging.adapters.sandbox:SandboxAdapter",
    "smtp": "app.messaging.adapters.smtp:SmtpAdapter",
    "resend": "app.messaging.adapters.resend_email:ResendAdapter",
    "whatsapp_cloud": "app.messaging.adapters.whatsapp_cloud:CloudApiAdapter",
    "wppconnect": "app.messaging.adapters.wppconnect:WppConnectAdapter",
}


def adapter_class(kind: str) -> Any:
    module_name, _, class_name = ADAPTERS[kind].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_adapter(kind: str, config: BaseModel, state: dict[str, Any]) -> ChannelAdapter:
    adapter: ChannelAdapter = adapter_class(kind)(config, state)
    return adapter
