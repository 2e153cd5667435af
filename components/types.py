"""Types the components share with the page states: select options, and how a state var is passed in.

A state's vars are declared with their Python types (`rows: list[UserRow] = []`); read on the class
(`UsersState.rows`) they are Vars at run time, but mypy keeps seeing the declared type (reflex's typed
alternative, rx.Field, does not resolve under mypy: a Field[dict] reads as an array). So a component
takes `StateVar[T]`, and narrows with `array_var` where it needs a Var's methods.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

import reflex as rx
from reflex.vars import ArrayVar, ObjectVar

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
StateVar: TypeAlias = rx.Var[T] | T


@dataclass
class Option:
    """One choice of a select whose options are a state var."""

    value: str
    label: str


def array_var(value: StateVar[Sequence[T]]) -> ArrayVar[Sequence[T]]:
    """A list state var read on its class, as the ArrayVar it is (for .length(), .contains()...)."""
    if not isinstance(value, ArrayVar):
        raise TypeError(f"expected a list state var, got {type(value).__name__}")
    return value


def object_var(value: StateVar[Mapping[K, V]]) -> ObjectVar[Mapping[K, V]]:
    """A dict state var read on its class, as the ObjectVar it is (to index it with another Var)."""
    if not isinstance(value, ObjectVar):
        raise TypeError(f"expected a dict state var, got {type(value).__name__}")
    return value
