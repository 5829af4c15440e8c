"""Plain SQL for the few hot paths (the API's single transaction, with the member's
re-evaluation), where compiling an ORM query costs several times what running it does: about
0.5 ms for a plain ``get`` and 2 ms with ``select_related``, against 0.2 ms for the statement.

``columns`` names every stored column of a model under a table alias, in the order
``instance`` expects them back; ``instance`` converts the values as the ORM would (SQLite's
text dates and naive moments, JSON) and builds the instance without a query. ``hot_cursor``
runs such statements as prepared statements on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from django.db import connection
from django.db.models import Model


@lru_cache(maxsize=64)
def _converters(model: type[Model], vendor: str) -> tuple:
    """(attribute names, [(field's column expression, its converters)]) of ``model``."""
    fields = model._meta.concrete_fields
    converting = []
    for field in fields:
        expression = field.get_col(model._meta.db_table)
        converting.append(
            (
                expression,
                connection.ops.get_db_converters(expression)
                + expression.get_db_converters(connection),
            )
        )
    return tuple(f.attname for f in fields), converting


def columns(model: type[Model], alias: str) -> str:
    """``alias.column, ...`` for every stored field of ``model``."""
    qn = connection.ops.quote_name
    return ", ".join(f"{alias}.{qn(f.column)}" for f in model._meta.concrete_fields)


def width(model: type[Model]) -> int:
    """How many values ``columns`` selects."""
    return len(model._meta.concrete_fields)


def instance(model: type[Model], values: Sequence):
    """The ``model`` instance of a row selected with ``columns``."""
    names, converting = _converters(model, connection.vendor)
    converted = []
    for value, (expression, converters) in zip(values, converting, strict=True):
        for convert in converters:
            value = convert(value, expression, connection)
        converted.append(value)
    return model.from_db(connection.alias, names, converted)


def hot_cursor():
    """A cursor for the hand-written statements every API write runs. On PostgreSQL it binds
    parameters on the server, so psycopg prepares each statement after its first runs on a
    connection (``prepare_threshold`` in the database OPTIONS): parsed and planned once per
    connection instead of once per request; planning a member's row with its figures took
    twice as long as running it. Django's own cursors bind on the client and never prepare
    (the ORM's SQL cannot always be prepared, Django #20516), so only these statements are.
    Without a threshold (behind a pooler in transaction mode), Django's usual cursor."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    if connection.connection.prepare_threshold is None:
        return connection.cursor()
    # What connection.cursor() does with the cursor it creates (thread check, query logging).
    return connection._prepare_cursor(ServerBindingCursor(connection.connection))
