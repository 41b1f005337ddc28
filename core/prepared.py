"""Row queries and inserts compiled to SQL once per shape, then run with each request's values.

Django compiles a queryset to SQL every time it is evaluated. For the message lists that costs
several times more than running the query (about 1.4 ms against 0.15 ms for a page of 50 on
SQLite; the joins, the visibility subquery and the read-state CASE make a large expression
tree). The SQL of one shape, the same filters, ordering and slice, does not change from one
request to the next; only its parameters do.

`PreparedRows` compiles a shape once per database connection with stand-in values, notes where
they land among the parameters, and runs that SQL with the real values, converting the columns as
the `.values()` queryset would. It offers the part of a queryset that DRF's CursorPagination
uses: `order_by()`, `filter()` with field lookups, a slice, and iteration.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from django.db import connections, models, router
from django.db.models import signals
from django.db.models.query import ValuesIterable
from django.db.models.sql import InsertQuery

# Shapes kept per connection. A cursor's offset is part of a shape (Django writes LIMIT and
# OFFSET into the SQL) and clients choose it, so the store is bounded.
MAX_SHAPES = 128

_ID_STAND_IN = -(2**62)  # no primary key or constant of this project is near it
_TIME_STAND_IN = datetime(1001, 1, 1, tzinfo=UTC)
_local = threading.local()


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Per parameter: ("const", value), ("id", name) or ("lookup", index into the filters).
    slots: tuple[tuple[str, Any], ...]
    names: tuple[str, ...]
    compiler: Any  # its converters turn database values into Python ones
    connection: Any


@dataclass(frozen=True)
class PreparedRows:
    """The rows of `build(**ids)` (a `.values()` queryset of `model`), compiled once per shape.

    `build` must use each of `ids` (integers) only as a query parameter, never to decide the
    shape of the query: it is called once per shape with stand-in values. The names of `ids`
    are part of the shape: `build(**ids)` may take a list of any length (`pk__in`) as
    `id0`, `id1`, ... (`id_params`).
    """

    model: type[models.Model]
    build: Callable[..., models.QuerySet]
    ids: dict[str, int]
    ordering: tuple[str, ...] | None = None
    lookups: tuple[tuple[str, Any], ...] = ()

    def order_by(self, *fields: str) -> PreparedRows:
        return replace(self, ordering=fields)

    def filter(self, **lookups: Any) -> PreparedRows:
        return replace(self, lookups=self.lookups + tuple(sorted(lookups.items())))

    def __getitem__(self, item: slice) -> list[dict[str, Any]]:
        if not isinstance(item, slice) or item.step is not None:
            raise TypeError("PreparedRows takes a slice without a step")
        return self._run(item.start or 0, item.stop)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._run(0, None))

    def _run(self, start: int, stop: int | None) -> list[dict[str, Any]]:
        connection = connections[router.db_for_read(self.model)]
        compiled = self._compiled(connection, start, stop)
        lookup_values = [self._db_value(connection, n, v) for n, v in self.lookups]
        params = [
            value if kind == "const" else self.ids[value] if kind == "id" else lookup_values[value]
            for kind, value in compiled.slots
        ]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            fetched = cursor.fetchall()
        names = compiled.names
        rows = compiled.compiler.results_iter(results=[fetched])
        return [dict(zip(names, row, strict=False)) for row in rows]

    def _compiled(self, connection, start: int, stop: int | None) -> _Compiled:
        shapes = _local.__dict__.setdefault(connection.alias, OrderedDict())
        key = (self.build, tuple(self.ids), self.ordering, tuple(n for n, _ in self.lookups))
        key += (start, stop)
        compiled = shapes.get(key)
        if compiled is None or compiled.connection is not connection:
            compiled = shapes[key] = self._compile(connection, start, stop)
            if len(shapes) > MAX_SHAPES:
                shapes.popitem(last=False)
        shapes.move_to_end(key)
        return compiled

    def _compile(self, connection, start: int, stop: int | None) -> _Compiled:
        stand_ins = {name: _ID_STAND_IN - i for i, name in enumerate(self.ids)}
        queryset = self.build(**stand_ins)
        if queryset._iterable_class is not ValuesIterable:
            raise TypeError("PreparedRows runs .values() querysets")
        if self.ordering is not None:
            queryset = queryset.order_by(*self.ordering)
        lookup_stand_ins = [self._stand_in(name, i) for i, (name, _) in enumerate(self.lookups)]
        queryset = queryset.filter(
            **{name: value for (name, _), value in zip(self.lookups, lookup_stand_ins, strict=True)}
        )[start:stop]
        compiler = queryset.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        by_id = {value: name for name, value in stand_ins.items()}
        by_lookup = {
            self._db_value(connection, name, value): i
            for i, ((name, _), value) in enumerate(zip(self.lookups, lookup_stand_ins, strict=True))
        }
        slots = tuple(_slot(p, by_id, by_lookup) for p in params)
        used = {value for kind, value in slots if kind != "const"}
        if used != set(self.ids) | set(range(len(self.lookups))):
            raise ValueError(f"{self.build.__name__}: a value is not a parameter of its SQL")
        query = queryset.query
        names = tuple(
            query.selected or (*query.extra_select, *query.values_select, *query.annotation_select)
        )
        return _Compiled(sql, slots, names, compiler, connection)

    def _stand_in(self, lookup: str, index: int) -> Any:
        field = self.model._meta.get_field(lookup.split("__")[0])
        if isinstance(field, models.DateTimeField):
            return _TIME_STAND_IN.replace(microsecond=index + 1)
        if isinstance(field, models.IntegerField | models.AutoField | models.ForeignKey):
            return _ID_STAND_IN // 2 - index
        raise TypeError(f"PreparedRows cannot filter on {lookup}")

    def _db_value(self, connection, lookup: str, value: Any) -> Any:
        """`value` as the database receives it in `filter(lookup=value)`: the same path as the
        compiler's (the lookup prepares it, the field adapts it to the connection)."""
        field_name, _, lookup_name = lookup.partition("__")
        field = self.model._meta.get_field(field_name)
        prepared = field.get_lookup(lookup_name or "exact")(field.get_col(""), value)
        _, params = prepared.get_db_prep_lookup(prepared.rhs, connection)
        return params[0]


def id_params(values: list[int]) -> dict[str, int]:
    """`ids` for a list of values: one shape per length."""
    return {f"id{i}": value for i, value in enumerate(values)}


def _slot(param: Any, by_id: dict[int, str], by_lookup: dict[Any, int]) -> tuple[str, Any]:
    if type(param) is int and param in by_id:
        return ("id", by_id[param])
    if type(param) is not bool and param in by_lookup:
        return ("lookup", by_lookup[param])
    return ("const", param)


# --- Inserts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CompiledInsert:
    sql: str
    fields: tuple[models.Field, ...]
    returning: tuple[models.Field, ...]
    converters: Any
    compiler: Any  # prepares values and reads what the INSERT returns, as Django's insert does
    connection: Any


class NewRow:
    """A new model instance saved as `Model.save()` saves it, in two steps around the write lock.

    `NewRow(instance)` does what save() does before its INSERT: it sends pre_save and prepares
    the column values (each field's `pre_save` and `get_db_prep_save`, as Django's insert
    compiler does). `insert()`, in the transaction, runs the INSERT, its SQL compiled once per
    model and connection, sets what the database returns (an auto primary key) and sends
    post_save with `created=True`.

    On SQLite every write transaction holds the database's one write lock (core/sqlite): two
    `objects.create()` held it about 1.2 ms, mostly in Python (model and SQL building, value
    preparation); the same rows this way, about 0.4 ms. The model's own `save()` does not run:
    use it for models whose `save()` adds nothing to a new instance, or do that part first.
    """

    def __init__(self, instance: models.Model) -> None:
        meta = instance._meta
        if meta.parents:
            raise TypeError("NewRow does not insert models with concrete parents")
        self.instance = instance
        self.using = router.db_for_write(type(instance), instance=instance)
        if instance.pk is None:  # as save() does: a primary key with a default gets it now
            instance.pk = meta.pk.get_pk_value_on_save(instance)
        signals.pre_save.send(
            sender=meta.model, instance=instance, raw=False, using=self.using, update_fields=None
        )
        instance._prepare_related_fields_for_save(operation_name="save")
        # Before compiling: an expression would be compiled into the SQL kept for every insert.
        if any(hasattr(getattr(instance, f.attname), "resolve_expression") for f in meta.fields):
            raise TypeError("NewRow inserts plain values, not expressions")
        self._compiled = self._compile(connections[self.using])
        compiler = self._compiled.compiler
        self.params = [
            compiler.prepare_value(field, field.pre_save(instance, True))
            for field in self._compiled.fields
        ]

    def insert(self) -> models.Model:
        compiled, instance = self._compiled, self.instance
        with compiled.connection.cursor() as cursor:
            cursor.execute(compiled.sql, self.params)
            if compiled.returning:
                ops = compiled.connection.ops
                row = ops.fetch_returned_insert_columns(cursor, compiled.compiler.returning_params)
                if compiled.converters:
                    (row,) = compiled.compiler.apply_converters([row], compiled.converters)
                for field, value in zip(compiled.returning, row, strict=True):
                    setattr(instance, field.attname, value)
        instance._state.db, instance._state.adding = self.using, False
        signals.post_save.send(
            sender=instance._meta.model,
            instance=instance,
            created=True,
            update_fields=None,
            raw=False,
            using=self.using,
        )
        return instance

    def _compile(self, connection) -> _CompiledInsert:
        inserts = _local.__dict__.setdefault(f"insert:{connection.alias}", {})
        meta = self.instance._meta
        key = (meta.model, self.instance.pk is not None)
        compiled = inserts.get(key)
        if compiled is None or compiled.connection is not connection:
            compiled = inserts[key] = self._build(connection, pk_set=key[1])
        return compiled

    def _build(self, connection, pk_set: bool) -> _CompiledInsert:
        """The SQL of save()'s INSERT (`Model._save_table`), with the instance's values as
        placeholders; it does not depend on them (fields with a placeholder of their own, which
        might, are refused)."""
        meta = self.instance._meta
        fields = tuple(
            f
            for f in meta.local_concrete_fields
            if not f.generated and (pk_set or f is not meta.auto_field)
        )
        if any(hasattr(f, "get_placeholder") for f in fields):
            raise TypeError(f"NewRow cannot compile the INSERT of {meta.label} once")
        returning = tuple(meta.db_returning_fields)
        if returning and not connection.features.can_return_columns_from_insert:
            raise TypeError(f"{connection.vendor} cannot return {meta.label}'s primary key")
        query = InsertQuery(meta.model)
        query.insert_values(fields, [self.instance])
        compiler = query.get_compiler(connection=connection)
        compiler.returning_fields = list(returning)
        ((sql, _),) = compiler.as_sql()
        query.objs = []  # the kept compiler must not hold on to this instance
        converters = compiler.get_converters([f.get_col(meta.db_table) for f in returning])
        return _CompiledInsert(sql, fields, returning, converters, compiler, connection)
