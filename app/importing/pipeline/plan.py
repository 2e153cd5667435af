"""What an import reads and how: the plan derived once from the import job row."""

from dataclasses import dataclass

POLICIES = ("keep-first", "keep-last", "merge")


@dataclass
class Plan:
    """What to read and how: derived once from the import job row."""

    import_id: int
    schema: str
    source: str
    policy: str
    default_ddd: str | None
    mapping: dict[str, str]  # {"c0": "name", "c3": "phone", "c5": "custom:plano_dados"}
    headers: list[str]

    def columns(self, fld: str) -> list[str]:
        return [c for c, f in self.mapping.items() if f == fld]

    def custom_columns(self) -> dict[str, str]:
        return {f.split(":", 1)[1]: c for c, f in self.mapping.items() if f.startswith("custom:")}
