"""The `crm` command line against the test database."""

import json

from typer.testing import CliRunner

from app.cli import cli

runner = CliRunner()


def test_tenants_create_list_suspend_reactivate(database_url) -> None:
    r = runner.invoke(
        cli,
        [
            "tenants",
            "create",
            "cli-org",
            "--name",
            "Org da CLI",
            "--admin-email",
            "adm@cli-org.com.br",
            "--admin-password",
            "Senha-forte-1",
        ],
    )
    assert r.exit_code == 0, r.output
    listed = runner.invoke(cli, ["tenants", "list", "--json"])
    rows = [json.loads(line) for line in listed.output.splitlines() if line.startswith("{")]
    row = next(x for x in rows if x["slug"] == "cli-org")
    assert row == {
        "slug": "cli-org",
        "name": "Org da CLI",
        "status": "active",
        "schema": row["schema"],
        "users": 1,
        "customers": 0,
    }
    assert runner.invoke(cli, ["tenants", "suspend", "cli-org"]).exit_code == 0
    rows = [
        json.loads(x)
        for x in runner.invoke(cli, ["tenants", "list", "--json"]).output.splitlines()
        if x.startswith("{")
    ]
    assert next(x for x in rows if x["slug"] == "cli-org")["status"] == "suspended"
    assert runner.invoke(cli, ["tenants", "reactivate", "cli-org"]).exit_code == 0
    dup = runner.invoke(
        cli,
        [
            "tenants",
            "create",
            "cli-org",
            "--name",
            "X",
            "--admin-email",
            "a@b.com.br",
            "--admin-password",
            "Senha-forte-1",
        ],
    )
    assert dup.exit_code == 1
    assert runner.invoke(cli, ["tenants", "suspend", "nao-existe"]).exit_code == 1


def test_superadmin_create_and_migrate(database_url) -> None:
    r = runner.invoke(cli, ["superadmin", "create", "--email", "su@crm.local", "--password", "Senha-forte-1"])
    assert r.exit_code == 0, r.output
    assert (
        runner.invoke(
            cli, ["superadmin", "create", "--email", "su@crm.local", "--password", "Senha-forte-1"]
        ).exit_code
        == 1
    )
    m = runner.invoke(cli, ["migrate"])
    assert m.exit_code == 0, m.output
    assert "platform: ok" in m.output
