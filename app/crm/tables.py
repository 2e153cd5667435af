"""The Core table behind a model, typed: SQLModel sets `__table__` in its metaclass, out of mypy's sight."""

from typing import cast

from sqlalchemy import Table
from sqlalchemy import inspect as sa_inspect
from sqlmodel import SQLModel


def table_of(model: type[SQLModel]) -> Table:
    """`model.__table__` as a Table (every model here maps exactly one table)."""
    return cast(Table, sa_inspect(model).local_table)
