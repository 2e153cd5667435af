"""rate_and_eta: the one place an import's speed and time left are computed, and their pt-BR labels."""

import pytest

from app.importing.progress import eta_label, rate_and_eta, rate_label


def test_rate_and_eta_extrapolates_from_the_share_read() -> None:
    speed = rate_and_eta(rows=5_000, done=250, total=1_000, elapsed_s=10.0)
    assert speed.rate == 500.0
    assert speed.fraction == 0.25
    assert speed.eta_s == pytest.approx(30.0)


def test_nothing_read_yet_has_no_eta_and_no_rate() -> None:
    speed = rate_and_eta(rows=0, done=0, total=1_000, elapsed_s=0.0)
    assert (speed.rate, speed.eta_s, speed.fraction) == (0.0, None, 0.0)


def test_empty_or_unknown_total_counts_as_finished_and_overshoot_is_capped() -> None:
    assert rate_and_eta(rows=3, done=0, total=0, elapsed_s=1.0).fraction == 1.0
    over = rate_and_eta(rows=3, done=1_500, total=1_000, elapsed_s=1.0)
    assert over.fraction == 1.0 and over.eta_s == 0.0


@pytest.mark.parametrize(
    ("rate", "label"),
    [(None, ""), (0.0, ""), (1.2, "1 linha/s"), (1234.4, "1.234 linhas/s"), (12_345.6, "12.346 linhas/s")],
)
def test_rate_label_in_pt_br(rate: float | None, label: str) -> None:
    assert rate_label(rate) == label


@pytest.mark.parametrize(
    ("eta", "label"),
    [
        (None, ""),
        (-1.0, ""),
        (0.0, "menos de 1 min restante"),
        (59.9, "menos de 1 min restante"),
        (60.0, "cerca de 1 min restante"),
        (61.0, "cerca de 2 min restantes"),
        (3_599.0, "cerca de 1 h restante"),
        (7_200.0, "cerca de 2 h restantes"),
        (3_900.0, "cerca de 1 h 05 min restantes"),
    ],
)
def test_eta_label_in_pt_br(eta: float | None, label: str) -> None:
    assert eta_label(eta) == label
