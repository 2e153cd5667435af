"""The Importações screen builds its component tree and registers its route and permission."""

import pytest

pytest.importorskip("reflex")


def test_imports_page_builds() -> None:
    from app.auth.permissions import Perm
    from app.pages.base import PAGE_RULES
    from app.pages.imports import _custom_key, imports_page

    assert imports_page() is not None
    assert PAGE_RULES["/importacoes"] == (Perm.IMPORTS_RUN, False)
    assert _custom_key("Data de Ativação") == "data_de_ativacao"
    assert _custom_key("2ª linha") == "c_2a_linha"


def _status(**kw):
    from app.importing.status import ImportStatus

    base = dict(
        id=7, source="s", filename="f.csv", state_label=None, state="running", progress=0.0, read=0,
        rows_read=0, created=0, updated=0, invalid=0, rate=None, eta_s=None, duration_s=None,
    )  # fmt: skip
    return ImportStatus.model_construct(**{**base, **kw})


def test_listed_import_bar_rate_and_time_left() -> None:
    from app.pages.imports import _row

    running = _row(_status(progress=0.4271, rows_read=41556, rate=5480.2, eta_s=45.0))
    assert (running.percent, running.read, running.color) == (42, "41.556", "purple")
    assert (running.rate, running.eta) == ("5.480 linhas/s", "menos de 1 min restante")
    # Floored and held below 100 until the job is done: 100 % means finished.
    assert _row(_status(progress=0.9999)).percent == 99
    queued = _row(_status(state="queued"))
    assert (queued.percent, queued.rate, queued.eta, queued.state) == (0, "", "", "Na fila")
    # Done: 100 %, green, the rate over the whole run (the final report keeps only the duration), no ETA.
    done = _row(_status(state="done", progress=1.0, read=202037, duration_s=23.5, eta_s=3.0))
    assert (done.percent, done.color, done.state, done.eta) == (100, "green", "Concluída", "")
    assert done.rate == "8.597 linhas/s"
    failed = _row(_status(state="failed", progress=0.6))
    assert (failed.percent, failed.color, failed.state) == (60, "red", "Falhou")
