"""Import counters and the report users read (reason codes in English, messages in pt-BR).

Identity pinned by the tests, exact in every report:
    read  = valid + invalid
    valid = created + updated + unchanged + duplicates
`duplicates` are rows folded into an earlier row of the same file; `updated`/`unchanged` are rows
that matched a customer that existed before the import (also reported as `duplicates_existing`);
`conflicts` are rows counted in one of those that met another customer's contact (`conflito`,
`conflito_documento`: docs/architecture.md, "Import rules").
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

ERROR_REASONS: dict[str, str] = {
    "sem_contato": "Linha sem telefone nem e-mail.",
    "contato_invalido": "Nenhum telefone ou e-mail válido na linha.",
    "linha_malformada": "Linha malformada (aspas não fechadas ou colunas quebradas).",
    "linha_longa": "Linha com mais de 1 MB.",
}
WARNING_REASONS: dict[str, str] = {
    "telefone_invalido": "Telefone inválido: ignorado, a linha foi importada.",
    "email_invalido": "E-mail inválido: ignorado, a linha foi importada.",
    "documento_invalido": "CPF/CNPJ inválido: ignorado, a linha foi importada.",
    "responsavel_desconhecido": "Responsável não encontrado entre os usuários: ignorado.",
    "conflito": "Telefone/e-mail de clientes diferentes já existentes: ligada ao primeiro, sem mesclar.",
    "conflito_documento": (
        "Documento diferente do cliente que já tem este telefone/e-mail: criado como outro cliente; "
        "o contato ficou com o primeiro."
    ),
}
# Not problems: rows the grouping folded into another row or an existing customer (listed with samples
# and in the duplicates CSV; counted in `duplicates` and in updated/unchanged, never as warnings).
INFO_REASONS: dict[str, str] = {
    "duplicado": (
        "Linha duplicada: juntada a uma linha anterior do arquivo (mesmo CPF/CNPJ, telefone ou e-mail)."
    ),
    "cliente_existente": (
        "Cliente já cadastrado (mesmo CPF/CNPJ, telefone ou e-mail): atualizado, não duplicado."
    ),
}
CONFLICT_REASONS = ("conflito", "conflito_documento")
DEDUPE_REASONS = (*CONFLICT_REASONS, *INFO_REASONS)
FIELD_LABELS_PT = {
    "name": "nome",
    "document": "CPF/CNPJ",
    "plan": "plano",
    "status": "situação",
    "wallet_id": "carteira",
    "owner_id": "responsável",
    "tags": "tags",
    "custom": "campos personalizados",
    "contacts": "contatos",
}
SAMPLES_PER_REASON = 5


def message_for(reason: str) -> str:
    return ERROR_REASONS.get(reason) or WARNING_REASONS.get(reason) or INFO_REASONS.get(reason) or reason


@dataclass
class Counters:
    read: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    missing: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    changed_fields: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    missing_sample: list[dict[str, Any]] = field(default_factory=list)

    def sample(self, reason: str, line: int, value: Any) -> None:
        bucket = self.samples.setdefault(reason, [])
        if len(bucket) < SAMPLES_PER_REASON:
            text = None if value is None else str(value)[:200]
            bucket.append({"line": int(line), "value": text, "message": message_for(reason)})

    def check(self) -> None:
        assert self.read == self.valid + self.invalid, self.to_dict()
        assert self.valid == self.created + self.updated + self.unchanged + self.duplicates, self.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "valid": self.valid,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "duplicates_existing": self.updated + self.unchanged,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "conflicts": self.conflicts,
            "missing": self.missing,
            "errors": dict(self.errors),
            "warnings": dict(self.warnings),
            "changed_fields": dict(self.changed_fields),
            "samples": self.samples,
            "missing_sample": self.missing_sample,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Counters":
        c = cls()
        for name in ("read", "valid", "invalid", "duplicates", "created", "updated", "unchanged"):
            setattr(c, name, int(data.get(name, 0)))
        c.conflicts = int(data.get("conflicts", 0))
        c.missing = int(data.get("missing", 0))
        c.errors = Counter(data.get("errors", {}))
        c.warnings = Counter(data.get("warnings", {}))
        c.changed_fields = Counter(data.get("changed_fields", {}))
        c.samples = {k: list(v) for k, v in data.get("samples", {}).items()}
        # A resume after the last batch (the rebuild phase) starts from these counters, missing included.
        c.missing_sample = list(data.get("missing_sample", []))
        return c


def describe(report: dict[str, Any]) -> list[str]:
    """pt-BR summary lines for the CLI and the page."""
    out = [
        f"Lidas: {report.get('read', 0)} · válidas: {report.get('valid', 0)} · "
        f"inválidas: {report.get('invalid', 0)}",
        f"Criados: {report.get('created', 0)} · atualizados: {report.get('updated', 0)} · "
        f"sem mudança: {report.get('unchanged', 0)} · duplicadas no arquivo: {report.get('duplicates', 0)}",
    ]
    if report.get("conflicts"):
        out.append(f"Conflitos (clientes diferentes mantidos separados): {report['conflicts']}")
    if report.get("missing"):
        out.append(f"Ausentes nesta versão da origem (não excluídos): {report['missing']}")
    for reason, n in sorted(report.get("errors", {}).items(), key=lambda kv: -kv[1]):
        out.append(f"Erro — {message_for(reason)}: {n}")
    for reason, n in sorted(report.get("warnings", {}).items(), key=lambda kv: -kv[1]):
        out.append(f"Aviso — {message_for(reason)}: {n}")
    if "duration_s" in report:
        out.append(f"Duração: {report['duration_s']:.1f} s")
    return out
