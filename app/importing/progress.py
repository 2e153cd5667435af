"""An import's speed and time left: computed once here, for the job row the pipeline writes, the page
and the CLI, with the pt-BR labels people read."""

import math
from dataclasses import dataclass

from app.formatting import number_br


@dataclass(frozen=True)
class RateAndEta:
    rate: float  # rows per second so far
    eta_s: float | None  # seconds left; None until something is done to extrapolate from
    fraction: float  # 0..1 of the file read


def rate_and_eta(rows: int, done: int, total: int, elapsed_s: float) -> RateAndEta:
    """Rows/s over the whole run, and the time left extrapolated from the share of the file read so far.

    `done`/`total` are bytes (the only measure known before the file is read to its end: its row count
    is not); an empty or unknown total counts as finished.
    """
    rate = rows / elapsed_s if elapsed_s > 0 else 0.0
    fraction = min(done / total, 1.0) if total > 0 else 1.0
    eta = elapsed_s * (1 - fraction) / fraction if fraction > 0 else None
    return RateAndEta(rate=rate, eta_s=eta, fraction=fraction)


def rate_label(rate: float | None) -> str:
    """Rows/s as "1.234 linhas/s"; empty before the first batch has been measured."""
    if not rate:
        return ""
    return f"{number_br(round(rate))} {'linha' if round(rate) == 1 else 'linhas'}/s"


def eta_label(eta_s: float | None) -> str:
    """Time left as people say it: "menos de 1 min restante", "cerca de 4 min restantes", "cerca de 1 h 05 min
    restantes" (minutes rounded up, so the label never promises less than is left)."""
    if eta_s is None or eta_s < 0:
        return ""
    if eta_s < 60:
        return "menos de 1 min restante"
    minutes = math.ceil(eta_s / 60)
    left = "restante" if minutes == 1 else "restantes"
    if minutes < 60:
        return f"cerca de {minutes} min {left}"
    hours, minutes = divmod(minutes, 60)
    if minutes == 0:
        return f"cerca de {hours} h {'restante' if hours == 1 else 'restantes'}"
    return f"cerca de {hours} h {minutes:02d} min {left}"
