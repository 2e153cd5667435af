"""Phone rule: pinned cases, and the vectorised fast path == phonenumbers on a large generated sample."""

import random

import phonenumbers
import polars as pl
import pytest

from app.importing.phones import clean_phone, normalise_phone, normalise_phones
from tests.bench.generate import DDDS, format_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(11) 98765-4321", "+5511987654321"),
        ("11987654321", "+5511987654321"),
        ("0xx11 98765-4321", "+5511987654321"),
        ("0XX11 3333-4444", "+551133334444"),
        ("011 98765 4321", "+5511987654321"),
        ("015 11 98765 4321", "+5511987654321"),  # carrier selection code
        ("0 21 11 98765-4321", "+5511987654321"),
        ("+55 11 98765-4321", "+5511987654321"),
        ("55 11 98765-4321", "+5511987654321"),
        ("5511987654321", "+5511987654321"),
        ("11.98765.4321", "+5511987654321"),
        ("11987654321.0", "+5511987654321"),  # spreadsheet float
        ("(21) 2233-4455", "+552122334455"),
        ("98765-4321", None),  # no DDD and no default
        ("(11) 0000-0000", None),
        ("não informado", None),
        ("", None),
        (None, None),
        ("+1 650 253 0000", "+16502530000"),  # foreign numbers keep their country
    ],
)
def test_rule_cases(raw: str | None, expected: str | None) -> None:
    assert normalise_phone(raw) == expected
    assert normalise_phones(pl.Series([raw], dtype=pl.String)).to_list() == [expected]


def test_default_ddd_only_for_8_or_9_digit_local_numbers() -> None:
    assert normalise_phone("98765-4321", "21") == "+5521987654321"
    assert normalise_phone("3333-4444", "31") == "+553133334444"
    assert normalise_phone("(11) 98765-4321", "21") == "+5511987654321"  # already has a DDD
    assert normalise_phone("87654321", "21") is None  # 8-digit mobile without the 9 is not valid
    values = pl.Series(["98765-4321", "3333-4444", "(11) 98765-4321", "4321"])
    assert normalise_phones(values, "21").to_list() == [
        "+5521987654321",
        "+552133334444",
        "+5511987654321",
        None,
    ]


def test_default_ddd_must_be_two_digits() -> None:
    with pytest.raises(ValueError):
        normalise_phones(pl.Series(["1"]), "1")


def test_clean_phone_strips_junk_only() -> None:
    assert clean_phone(" (0xx11) 9.8765-4321 ") == "11987654321"
    assert clean_phone("+44 20 7946 0958") == "+442079460958"


def _sample(n: int, seed: int) -> list[str]:
    """Messy real-looking numbers plus random digit strings and prefixes of every length."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.45:
            ddd = rng.choice([*DDDS, str(rng.randint(10, 99))])
            local = rng.choice(["9", "8", "7", "2", "3", "4", "5", "6", "1", "0"]) + "".join(
                rng.choice("0123456789") for _ in range(rng.choice([7, 8]))
            )
            out.append(format_phone(ddd + local, rng))
        elif r < 0.8:
            length = rng.randint(1, 16)
            prefix = rng.choice(["", "", "0", "00", "90", "55", "+55", "+", "0800", "0300", "+1", "015"])
            out.append(prefix + "".join(rng.choice("0123456789") for _ in range(length)))
        elif r < 0.9:
            out.append(rng.choice(["4004-1234", "0800 123 4567", "3003 1234", "190", "100", "0300 789 1234"]))
        else:
            out.append("".join(rng.choice("0123456789 ()-+.xX") for _ in range(rng.randint(0, 18))))
    return out


def test_fast_path_equals_phonenumbers_on_a_large_sample() -> None:
    sample = list(dict.fromkeys(_sample(60_000, 11)))
    fast = normalise_phones(pl.Series(sample, dtype=pl.String)).to_list()
    reference = [normalise_phone(raw) for raw in sample]
    mismatches = [(raw, f, r) for raw, f, r in zip(sample, fast, reference, strict=True) if f != r]
    assert not mismatches[:20], f"{len(mismatches)} mismatches"
    assert sum(v is not None for v in fast) > 8_000  # the sample does exercise valid numbers


def test_fast_path_with_default_ddd_equals_phonenumbers() -> None:
    # Empty cells among the numbers (a mostly empty "Celular" column): positions are kept.
    sample: list[str | None] = list(dict.fromkeys(_sample(10_000, 5))) + [None] * 3_000
    random.Random(7).shuffle(sample)
    fast = normalise_phones(pl.Series(sample, dtype=pl.String), "85").to_list()
    for raw, f in zip(sample, fast, strict=True):
        assert f == normalise_phone(raw, "85"), raw


def test_stored_numbers_are_e164_valid() -> None:
    for value in normalise_phones(pl.Series(_sample(2_000, 3))).drop_nulls().to_list():
        num = phonenumbers.parse(value)
        assert phonenumbers.is_valid_number(num)
        assert phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164) == value
