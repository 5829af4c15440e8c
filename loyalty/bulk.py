"""Fast set-based writes of many rows, the same call on both databases.

PostgreSQL gets COPY (about 50 times faster than row-by-row INSERTs, see stack-notes.md) and,
for updates, COPY into a temporary table then one ``UPDATE ... FROM``. SQLite gets
``executemany``, which is the fastest it has. Rows are plain tuples in the order of ``fields``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from functools import lru_cache

from django.db import connection
from django.db.models import Model

from . import rows

# Below this many rows, staging them in a temporary table costs more queries than it saves.
_STAGING_THRESHOLD = 500


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


# For one big grouped or sorted statement over millions of rows: 256 MB for each hash table, so
# that grouping a million members does not spill, but sorts in runs of 32 MB, which fit the
# CPU's caches (sorting ten million rows in 256 MB runs took a quarter longer: the import's
# classification 15.9 s instead of 12.6 s, its search for repeats 8.6 s instead of 4.9 s);
# PostgreSQL's parallel workers (with its default costs of moving rows between processes it kept
# such statements on one core, about 30% slower), and no JIT, whose compilation cost more than
# it saved.
BIG_STATEMENT_SETTINGS = {
    "work_mem": "32MB",
    "hash_mem_multiplier": "8",
    "jit": "off",
    "parallel_setup_cost": "0",
    "parallel_tuple_cost": "0.01",
}


@contextmanager
def postgres_settings(settings: dict[str, str]) -> Iterator[None]:
    """PostgreSQL settings for the statements of the block (in a transaction), set back after
    it for the rest of the transaction; nothing on SQLite. Not set back when the block raises:
    the rollback that follows undoes them, and a statement in an aborted transaction would
    replace the error in hand with "current transaction is aborted"."""
    if not _is_postgres():
        yield
        return
    names = list(settings)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
        previous = cursor.fetchone()
    _set_local(settings)
    yield
    _set_local(dict(zip(names, previous, strict=True)))


def _set_local(settings: dict[str, str]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(settings)),
            [value for item in settings.items() for value in item],
        )


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_other(value) -> str:
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value).translate(_COPY_ESCAPES)
    return str(value)


# The common exact types, looked up by type: this runs for every value of a million rows.
# Dates and moments repeat (the run's date and time in every row): formatted once each.
_COPY_FORMAT = {
    type(None): lambda value: "\\N",
    int: int.__str__,
    str: lambda value: value.translate(_COPY_ESCAPES),
    date: lru_cache(maxsize=4096)(date.isoformat),
    datetime: lru_cache(maxsize=4096)(datetime.isoformat),
}


def copy_text(value) -> str:
    """One value in COPY's text format (NULL is ``\\N``; backslash, tab and newlines escaped)."""
    return _COPY_FORMAT.get(type(value), _copy_other)(value)


def _copy_rows(cursor, table: str, fields: Sequence, rows: Iterable[tuple]) -> int:
    """COPY ``rows`` (raw values in the order of ``fields``) into ``table`` in PostgreSQL's
    binary format, each row converted by psycopg's C code from the fields' column types: a
    third of the CPU of writing text lines from Python, which was the largest part of a
    recompute's Python time (a million rows per table). Returns the number of rows."""
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    count = 0
    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
        # The column types without modifiers (varchar(64) is varchar), as psycopg names them.
        copy.set_types([f.db_type(connection).split("(")[0] for f in fields])
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _execute_each(cursor, sql: str, values: list) -> None:
    """``executemany``, except for one row: psycopg's pipeline for many costs a third more
    than a plain execute (prepared: ``rows.hot_cursor``) for a real-time evaluation's row."""
    if len(values) == 1:
        with rows.hot_cursor() as single:
            single.execute(sql, values[0])
    else:
        cursor.executemany(sql, values)


def _columns(model: type[Model], fields: Sequence[str]):
    return [model._meta.get_field(name) for name in fields]


def _prepared(model_fields, rows: Iterable[tuple]) -> Iterable[tuple]:
    for row in rows:
        yield tuple(
            f.get_db_prep_save(v, connection) for f, v in zip(model_fields, row, strict=True)
        )


def insert_rows(model: type[Model], fields: Sequence[str], rows: Iterable[tuple]) -> int:
    """Insert ``rows`` (tuples of raw values: dates, ints, ids) into ``model``'s table; returns
    the number of rows. Model defaults such as ``auto_now_add`` are not applied: pass them."""
    # A COPY takes two round trips, even of nothing: a real-time evaluation's single row (or
    # none) is a plain INSERT.
    single = isinstance(rows, Sequence) and len(rows) <= 1
    if single and not rows:
        return 0
    model_fields = _columns(model, fields)
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in model_fields)
    count = 0
    with connection.cursor() as cursor:
        if _is_postgres() and not single:
            return _copy_rows(cursor, table, model_fields, rows)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
        batch: list[tuple] = []
        for row in _prepared(model_fields, rows):
            batch.append(row)
            if len(batch) >= 5000:
                _execute_each(cursor, sql, batch)
                count += len(batch)
                batch.clear()
        if batch:
            _execute_each(cursor, sql, batch)
            count += len(batch)
    return count


def insert_rows_skipping_existing(
    model: type[Model], fields: Sequence[str], rows: Sequence[tuple]
) -> None:
    """Insert ``rows`` like ``insert_rows``, leaving out any that one of the table's unique
    constraints finds stored already (``ON CONFLICT DO NOTHING``): COPYed into a temporary
    table then one ``INSERT … SELECT`` on PostgreSQL, ``executemany`` on SQLite."""
    if not rows:
        return
    model_fields = _columns(model, fields)
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    columns = ", ".join(qn(f.column) for f in model_fields)
    with connection.cursor() as cursor:
        if _is_postgres() and len(rows) >= _STAGING_THRESHOLD:
            temp = _staged(cursor, model, model_fields, rows)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {temp} "
                "ON CONFLICT DO NOTHING"
            )
            cursor.execute(f"DROP TABLE {temp}")
            return
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "
            "ON CONFLICT DO NOTHING",
            list(_prepared(model_fields, rows)),
        )


def _staged(cursor, model: type[Model], fields: Sequence, rows: Sequence[tuple]) -> str:
    """COPY ``rows`` into a temporary table shaped like ``fields``; returns its quoted name."""
    qn = connection.ops.quote_name
    temp = qn(f"_staged_{model._meta.db_table}")
    definitions = ", ".join(f"{qn(f.column)} {f.db_type(connection)}" for f in fields)
    cursor.execute(f"DROP TABLE IF EXISTS {temp}")
    cursor.execute(f"CREATE TEMPORARY TABLE {temp} ({definitions})")
    _copy_rows(cursor, temp, fields, rows)
    # Without statistics the planner takes the staged rows for a handful and may join them to
    # the whole target table.
    cursor.execute(f"ANALYZE {temp}")
    return temp


def _key_range(rows: Sequence[tuple]) -> tuple:
    """The lowest and highest key of ``rows``: repeated in the join to the target table, it lets
    PostgreSQL read only that range of its primary key (a recompute writes one range of members
    at a time, and the table holds all of them)."""
    keys = [row[0] for row in rows]
    return min(keys), max(keys)


def update_rows(model: type[Model], fields: Sequence[str], rows: Sequence[tuple]) -> int:
    """Update ``fields`` of the rows whose primary key is each tuple's first value; the other
    values follow in the order of ``fields``."""
    if not rows:
        return 0
    pk = model._meta.pk
    model_fields = _columns(model, fields)
    table = connection.ops.quote_name(model._meta.db_table)
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        if _is_postgres() and len(rows) >= _STAGING_THRESHOLD:
            temp = _staged(cursor, model, [pk, *model_fields], rows)
            assignments = ", ".join(f"{qn(f.column)} = u.{qn(f.column)}" for f in model_fields)
            key = qn(pk.column)
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments} FROM {temp} AS u "
                f"WHERE t.{key} = u.{key} AND t.{key} BETWEEN %s AND %s",
                _key_range(rows),
            )
            cursor.execute(f"DROP TABLE {temp}")
            return len(rows)
        assignments = ", ".join(f"{qn(f.column)} = %s" for f in model_fields)
        sql = f"UPDATE {table} SET {assignments} WHERE {qn(pk.column)} = %s"
        prepared = _prepared(model_fields, (row[1:] for row in rows))
        _execute_each(
            cursor, sql, [(*values, row[0]) for values, row in zip(prepared, rows, strict=True)]
        )
    return len(rows)


def upsert_rows(model: type[Model], fields: Sequence[str], rows: Sequence[tuple]) -> int:
    """Insert rows whose primary key (each tuple's first value) is new, update the others.
    Callers hold the rows' locks (the recompute locks the members), so the two statements of the
    PostgreSQL path cannot race; SQLite writes one at a time anyway."""
    if not rows:
        return 0
    qn = connection.ops.quote_name
    pk = model._meta.pk
    all_fields = [pk, *_columns(model, fields)]
    table = qn(model._meta.db_table)
    columns = ", ".join(qn(f.column) for f in all_fields)
    on_conflict = f"ON CONFLICT ({qn(pk.column)}) DO UPDATE SET " + ", ".join(
        f"{qn(f.column)} = excluded.{qn(f.column)}" for f in all_fields[1:]
    )
    with connection.cursor() as cursor:
        if _is_postgres() and len(rows) >= _STAGING_THRESHOLD:
            # UPDATE ... FROM then an anti-join INSERT: about 40% faster than ON CONFLICT
            # when most rows exist, as they do from the second recompute on.
            temp = _staged(cursor, model, all_fields, rows)
            key = qn(pk.column)
            assignments = ", ".join(f"{qn(f.column)} = s.{qn(f.column)}" for f in all_fields[1:])
            low_high = _key_range(rows)
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments} FROM {temp} AS s "
                f"WHERE t.{key} = s.{key} AND t.{key} BETWEEN %s AND %s",
                low_high,
            )
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {temp} AS s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t "
                f"WHERE t.{key} = s.{key} AND t.{key} BETWEEN %s AND %s)",
                low_high,
            )
            cursor.execute(f"DROP TABLE {temp}")
            return len(rows)
        placeholders = ", ".join(["%s"] * len(all_fields))
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) {on_conflict}",
            list(_prepared(all_fields, rows)),
        )
    return len(rows)


def insert_one(instance: Model, *, unless_taken: Sequence[str] = ()) -> bool:
    """Insert ``instance`` with one plain ``INSERT ... RETURNING`` (no ORM query to compile: a
    third of the cost of ``save()`` for a real-time write) and set its primary key; model
    defaults such as ``auto_now_add`` apply as in ``save()``. Returns whether it was inserted.

    With ``unless_taken`` (the fields of a unique constraint), nothing is written when a row
    with the same values exists (``ON CONFLICT DO NOTHING`` on both databases): no read before
    and no savepoint around it, and a concurrent insert of the same values is waited for, not
    an error. Other constraints still raise ``IntegrityError``."""
    model = type(instance)
    qn = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    on_conflict = ""
    if unless_taken:
        taken = ", ".join(qn(f.column) for f in _columns(model, unless_taken))
        on_conflict = f" ON CONFLICT ({taken}) DO NOTHING"
    with rows.hot_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}){on_conflict} "
            f"RETURNING {qn(model._meta.pk.column)}",
            values,
        )
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = connection.alias
    return True


def analyze(*models: type[Model]) -> None:
    """Refresh PostgreSQL's planner statistics after a bulk load. Without them a table loaded by
    COPY looks empty to the planner, which then picks nested loops: seconds become minutes."""
    if not _is_postgres():
        return
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")


def analyze_grown(model: type[Model], *, least_pages: int) -> None:
    """``analyze`` ``model``'s table when it has grown by a tenth since PostgreSQL last
    analysed it (autovacuum's own measure, for a server where autovacuum is off or has not come
    round yet) and spans at least ``least_pages`` pages (below that any plan is quick). A tier
    history never analysed after a first evaluation of a million members made one member's
    history look like 3,000 rows, read by parallel workers: 13 ms instead of 2 for the member
    page's query."""
    if not _is_postgres():
        return
    _tuples, pages_then, pages_now = _table_pages(connection.ops.quote_name(model._meta.db_table))
    if pages_now >= least_pages and pages_now * 10 > max(pages_then, 0) * 11:
        analyze(model)


def vacuum_analyze(*models: type[Model]) -> None:
    """After a run that rewrote most rows of ``models``: let PostgreSQL reuse the dead rows'
    space and mark pages all-visible (index-only scans need that), and refresh statistics.
    Autovacuum does this eventually; a nightly run that rewrites a million rows should not
    leave the next one a table twice the size. VACUUM cannot run inside a transaction: there
    (tests, callers' transactions) only the statistics are refreshed."""
    if not _is_postgres():
        return
    if connection.in_atomic_block:
        analyze(*models)
        return
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {tables}")


# For index builds when a load sets a table's keys aside (for this transaction only): 32 MB for
# each of the three processes of a parallel build (its least), whose sort runs then fit the
# CPU's caches; with 256 MB the indexes of ten million transactions took 15% longer.
_MAINTENANCE_WORK_MEM = "96MB"


def rows_estimate(model: type[Model]) -> int:
    """About how many rows ``model``'s table holds, as the planner reckons it (the density of
    the last ANALYZE times the table's pages now): instant, where ``COUNT(*)`` reads the whole
    table, which it does only for a table never analysed. For choosing a way of loading, not
    for figures."""
    if not _is_postgres():
        return model._default_manager.count()
    estimate = table_rows_estimate(connection.ops.quote_name(model._meta.db_table))
    return model._default_manager.count() if estimate is None else estimate


def table_rows_estimate(table: str) -> int | None:
    """``rows_estimate`` for a (quoted) table name on PostgreSQL; None for a table with pages
    that was never analysed."""
    tuples, pages_then, pages_now = _table_pages(table)
    if pages_now == 0:
        return 0
    if tuples >= 0 and pages_then > 0:
        # Rounded, not cut: 50 rows over 3 pages come back as 49.99... in floating point.
        return round(tuples / pages_then * pages_now)
    return None


def _table_pages(table: str) -> tuple[float, int, int]:
    """For a (quoted) table name on PostgreSQL: the rows and pages its last ANALYZE or VACUUM
    counted (-1 rows: never), and its pages now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples, relpages, "
            "pg_relation_size(oid) / current_setting('block_size')::int FROM pg_class "
            "WHERE oid = %s::regclass",
            [table],
        )
        return cursor.fetchone()


class KeysSetAside:
    """A bulk load into ``model``'s table with its primary key, indexes, unique constraints and
    foreign keys dropped, then made again: PostgreSQL's own advice for loading much data (one
    sort per index instead of one tree descent per row, one join per foreign key instead of a
    trigger per row). A first load of a million rows is about three times faster.

    Use it inside the caller's transaction (DDL is transactional: an error restores
    everything with the rest). Dropping an index locks the table for the transaction: readers
    and writers of the table wait until it commits, so only a load that at least doubles the
    table is worth it. ``restore()`` makes the primary key, indexes and unique constraints
    again, then the foreign keys, each validated by one query (or in two steps:
    ``restore_indexes()``, ``restore_foreign_keys()``). The primary key or a unique constraint
    is set aside only when no other table's foreign key refers to it; check constraints stay.
    Only PostgreSQL: on SQLite nothing is set aside."""

    def __init__(self, model: type[Model]):
        self.table = connection.ops.quote_name(model._meta.db_table)
        self.indexes: list[str] = []
        self.primary_key: list[tuple[str, str]] = []
        self.uniques: list[tuple[str, str]] = []
        self.foreign_keys: list[tuple[str, str]] = []

    def drop(self) -> None:
        if not _is_postgres():
            return
        with connection.cursor() as cursor:
            # The primary key too (its index costs a third of writing ten million rows), and
            # the unique constraints, unless another table's foreign key needs its index.
            cursor.execute(
                "SELECT c.conname, c.contype, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                "WHERE c.conrelid = %s::regclass AND (c.contype = 'f' OR c.contype IN ('p', 'u') "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint r WHERE r.contype = 'f' "
                "AND r.conindid = c.conindid AND r.conrelid <> c.conrelid)) ORDER BY c.conname",
                [self.table],
            )
            kinds = {"p": self.primary_key, "u": self.uniques, "f": self.foreign_keys}
            for name, kind, definition in cursor.fetchall():
                kinds[kind].append((name, definition))
            # Indexes that back no constraint (the primary key's and the uniques' come back
            # with their constraints).
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                "FROM pg_index i WHERE i.indrelid = %s::regclass AND NOT i.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
                "ORDER BY i.indexrelid",
                [self.table],
            )
            indexes = cursor.fetchall()
            self.indexes = [definition for _name, definition in indexes]
            # Checks this transaction deferred must run now: a table with pending trigger
            # events cannot be altered.
            connection.check_constraints()
            qn = connection.ops.quote_name
            # The foreign keys first: the table's own (a refund's purchase) needs its primary key.
            for name, _definition in self.foreign_keys + self.uniques + self.primary_key:
                cursor.execute(f"ALTER TABLE {self.table} DROP CONSTRAINT {qn(name)}")
            for name, _definition in indexes:
                cursor.execute(f"DROP INDEX {name}")

    def restore(self) -> None:
        self.restore_indexes()
        self.restore_foreign_keys()

    def restore_indexes(self) -> None:
        """The primary key, indexes and unique constraints only: rows written between this and
        ``restore_foreign_keys`` find their way by index and are checked in one join later."""
        if not _is_postgres():
            return
        qn = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('maintenance_work_mem', %s, true)", [_MAINTENANCE_WORK_MEM]
            )
            for name, definition in self.primary_key:
                cursor.execute(f"ALTER TABLE {self.table} ADD CONSTRAINT {qn(name)} {definition}")
            for definition in self.indexes:
                cursor.execute(definition)
            for name, definition in self.uniques:
                cursor.execute(f"ALTER TABLE {self.table} ADD CONSTRAINT {qn(name)} {definition}")
        self.indexes, self.primary_key, self.uniques = [], [], []

    def restore_foreign_keys(self) -> None:
        if not _is_postgres():
            return
        qn = connection.ops.quote_name
        # The table was just written and its pages are in memory: with the default cost of a
        # random read (made for disks) PostgreSQL validated a key that is mostly NULL, such as
        # a refund's purchase, by hashing all ten million rows it may refer to (4.5 s) instead
        # of looking up the 200,000 that are set (0.6 s). A key set on every row is still
        # checked by hashing the table it refers to.
        with connection.cursor() as cursor, postgres_settings({"random_page_cost": "1.1"}):
            for name, definition in self.foreign_keys:
                cursor.execute(f"ALTER TABLE {self.table} ADD CONSTRAINT {qn(name)} {definition}")
        self.foreign_keys = []
