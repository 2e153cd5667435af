"""`crm import FILE --tenant SLUG ... --json`: the same pipeline from the command line."""

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from app.cli.imports import import_command

app = typer.Typer()
app.command("import")(import_command)
app.command("noop")(lambda: None)  # a second command keeps typer from collapsing to a single one


def test_cli_json_report(tenant, tmp_path: Path) -> None:
    src = tmp_path / "legado.csv"
    src.write_text(
        "Cliente;Fone A;Fone B;Obs\nAna;98765-4321;;vip\nBia;(21) 2233-4455;;\nRuim;x;;\n", encoding="cp1252"
    )
    mapping = tmp_path / "m.json"
    mapping.write_text(
        json.dumps({"Cliente": "name", "Fone A": "phone", "Fone B": "phone", "Obs": "custom:obs"})
    )
    args = [
        "import",
        str(src),
        "--tenant",
        tenant.slug,
        "--source",
        "legado",
        "--mapping",
        str(mapping),
        "--dedupe",
        "keep-last",
        "--default-ddd",
        "11",
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    for key in (
        "read",
        "valid",
        "invalid",
        "duplicates",
        "created",
        "updated",
        "unchanged",
        "missing",
        "errors",
        "duration_s",
    ):
        assert key in out
    assert (out["read"], out["valid"], out["invalid"], out["created"]) == (3, 2, 1, 2)
    assert out["errors"] == {"contato_invalido": 1}
    again = CliRunner().invoke(app, args)
    out2 = json.loads(again.output.strip().splitlines()[-1])
    assert (out2["unchanged"], out2["created"], out2["missing"]) == (2, 0, 0)


def test_cli_errors_are_pt_br(tenant, tmp_path: Path) -> None:
    src = tmp_path / "vazio.csv"
    src.write_bytes(b"")
    result = CliRunner().invoke(app, ["import", str(src), "--tenant", tenant.slug, "--json"])
    assert result.exit_code == 1
    assert "vazio" in json.loads(result.output.strip().splitlines()[-1])["detail"]
    result = CliRunner().invoke(app, ["import", str(src), "--tenant", "nao-existe"])
    assert result.exit_code == 1
