"""What a screen says about a provider's refusal code (pt-BR), where the code means something an agent
can act on; other refusals get their outcome's generic text (outbox.ERRORS_PT). The provider's own
English text stays on the row's logs, never on a screen."""

# Meta Cloud API error codes (developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
REQUIRED_PARAMETER_MISSING = "131008"
MARKETING_OPT_OUT = "131050"
BY_CODE = {
    REQUIRED_PARAMETER_MISSING: (
        "Faltou um parâmetro obrigatório na mensagem (erro 131008 do WhatsApp): revise o modelo e as "
        "variáveis antes de reenviar."
    ),
    "131026": "O WhatsApp não conseguiu entregar a mensagem a este número (131026).",
    "131048": "A Meta limitou o envio deste número por spam (131048).",
    MARKETING_OPT_OUT: "O cliente pediu ao WhatsApp para não receber mensagens de marketing (131050).",
    "132000": "O número de variáveis não confere com o modelo aprovado (132000).",
    "132001": "O modelo não existe ou não está aprovado na Meta (132001).",
}


def reason_pt(code: str | None) -> str | None:
    """The pt-BR reason for a provider code, or None when it has no specific one."""
    return BY_CODE.get(code or "")
