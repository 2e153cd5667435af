"""The audit log reads in pt-BR: action names, entity names, and a before/after diff per field."""

from app.audit.labels import ACTION_LABELS, action_label, actor_label, change_lines, entity_label
from app.audit.log import record, record_platform


def test_known_codes_have_pt_br_names_and_unknown_ones_fall_back_to_the_code() -> None:
    assert action_label("tenant.provision") == "Organização provisionada"
    assert action_label("auth.login") == "Entrou no sistema"
    assert action_label("customer.update") == "Cliente alterado"
    assert action_label("robot.dance") == "robot.dance"
    assert all(label and "." not in label.split()[0] for label in ACTION_LABELS.values())


def test_every_recorded_action_code_has_a_label() -> None:
    """Every literal action code passed to record / record_platform in app/ has a pt-BR name."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    codes: set[str] = set()
    for path in (root / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", ""))
                in {record.__name__, record_platform.__name__}
                and len(node.args) >= 3
                and isinstance(node.args[2], ast.Constant)
                and isinstance(node.args[2].value, str)
            ):
                codes.add(node.args[2].value)
    assert codes, "no audit calls found"
    assert sorted(codes - ACTION_LABELS.keys()) == []
    assert {"tenant.suspend", "tenant.reactivate"} <= ACTION_LABELS.keys()  # built with an f-string


def test_entity_and_actor() -> None:
    assert entity_label("customer", "42") == "Cliente #42"
    assert entity_label("tenant", None) == "Organização"
    assert actor_label("ana@x.com.br", "customer.update", {}) == "ana@x.com.br"
    assert actor_label(None, "auth.login", {"email": "bia@x.com.br"}) == "bia@x.com.br"
    assert actor_label(None, "tenant.purge", {}) == "sistema"


def test_change_lines_read_field_before_arrow_after() -> None:
    lines = change_lines(
        {"name": "Ana", "status": "active", "tags": ["a"]},
        {"name": "Ana Maria", "status": "inactive", "owner_id": 7, "tags": []},
    )
    assert lines == [
        "nome: Ana → Ana Maria",
        "responsável: 7",
        "situação: active → inactive",
        "etiquetas: a → —",
    ]  # in the order of the stored keys, so the same entry always reads the same
    assert change_lines({"email": "a@b.c"}, {}) == ["e-mail: a@b.c → —"]
    assert change_lines(None, None) == []
    # Stored ISO timestamps read as dd/mm/aaaa HH:mm in the reader's zone.
    assert change_lines({}, {"confirmed_at": "2026-03-05T17:50:00+00:00"}, "America/Manaus") == [
        "confirmado em: 05/03/2026 13:50"
    ]
    long = change_lines({}, {"body": "x" * 500})[0]
    assert long.endswith("…") and len(long) < 100
