"""Search planning on its own: wildcards, comparators, SQL pushdown (no broker needed)."""
from __future__ import annotations

import random

import pytest

from pipeline.catalog import Catalog
from pipeline.contract.errors import HarperError
from pipeline.query import nosql, plan, sort, sql
from pipeline.query.predicate import compile_predicate

ROWS = [{"id": 1, "name": "Penny", "age": 7, "w": 38.5}, {"id": 2, "name": "penne", "age": "7"},
        {"id": 3, "name": "Alby", "age": None, "w": 9.25}, {"id": 4, "name": "Kato", "w": 80}]


def catalog() -> Catalog:
    c = Catalog()
    c.apply(*c.database_record("dev", 1))
    c.apply(*c.table_record("dev", "dog", "id", 1))
    for name in ("name", "age", "w"):
        c.apply(*c.attribute_record("dev", "dog", name, 1))
    return c


def matching(tree) -> list[int]:
    predicate = compile_predicate({"conditions": tree})
    return [r["id"] for r in ROWS if predicate(r)]


@pytest.mark.parametrize("value, expected", [
    ("*", None), ("Pen*", ("starts_with", "Pen")), ("*ne", ("ends_with", "ne")), ("*en*", ("contains", "en")),
    ("P*y", ("equals", "P*y")), ("***abc", ("ends_with", "**abc")), (7, ("equals", 7)),
])
def test_search_by_value_wildcards(value, expected):
    condition = nosql.value_condition("name", value)
    assert (None if condition is None else (condition["search_type"], condition["search_value"])) == expected


@pytest.mark.parametrize("comparator, value, ids", [
    ("equals", 7, [1]), ("equals", "7", [2]), ("not_equal", 7, [2]), ("greater_than", 9.25, [1, 4]),
    ("greater_than_equal", 9.25, [1, 3, 4]), ("less_than", 38.5, [3]), ("less_than_equal", 38.5, [1, 3]),
    ("between", [9, 40], [1, 3]), ("contains", "enn", [1, 2]), ("starts_with", "P", [1]), ("ends_with", "y", [1, 3]),
])
def test_comparators(comparator, value, ids):
    attribute = "w" if comparator not in ("equals", "not_equal", "contains", "starts_with", "ends_with") else \
        ("age" if comparator in ("equals", "not_equal") else "name")
    assert matching({"search_attribute": attribute, "search_type": comparator, "search_value": value}) == ids


def test_starts_with_is_for_strings_but_like_reads_any_value_as_text():
    """Harper's NoSQL ``starts_with`` (and search_by_value's ``0*``) walks the index of strings; SQL's LIKE does not."""
    rows = [{"id": 1, "v": 0}, {"id": 2, "v": "011"}, {"id": 3, "v": "00011"}, {"id": 4, "v": 105}]
    nosql_prefix = compile_predicate({"conditions": nosql.value_condition("v", "0*")})
    like_prefix = compile_predicate({"conditions": {"search_attribute": "v", "search_type": "text_starts_with",
                                                    "search_value": "0"}})
    assert [r["id"] for r in rows if nosql_prefix(r)] == [2, 3]
    assert [r["id"] for r in rows if like_prefix(r)] == [1, 2, 3]


@pytest.mark.parametrize("conditions, operator, expected", [
    ([("location", "contains"), ("group", "between")], "and", "group"),
    ([("location", "starts_with")], "and", "location"),
    ([("age", "greater_than"), ("location", "starts_with"), ("group", "equals")], "and", "group"),
    ([("group", "equals"), ("id", "equals")], "and", "id"),
    ([("group", "equals"), ("age", "equals")], "and", "group"),
    ([("group", "equals"), ("age", "equals")], "or", None),
])
def test_conditions_are_answered_in_the_order_of_the_narrowest_one(conditions, operator, expected):
    """Harper walks the index of the condition it estimates narrowest; its answer comes in that order."""
    table = catalog().table("dev", "dog")
    leaves = [{"search_attribute": a, "search_type": t, "search_value": 1} for a, t in conditions]
    assert nosql.driving_attribute(table, operator, leaves) == expected


def test_nested_groups():
    tree = {"operator": "or", "conditions": [
        {"search_attribute": "name", "search_type": "starts_with", "search_value": "A"},
        {"operator": "and", "conditions": [{"search_attribute": "w", "search_type": "greater_than", "search_value": 50},
                                           {"search_attribute": "name", "search_type": "ends_with", "search_value": "o"}]}]}
    assert matching(tree) == [3, 4]


def test_sql_pushes_the_filter_down():
    """A single table's WHERE goes to the shards as SQL, functions included; the shards evaluate it."""
    plan = sql.plan_sql("SELECT id FROM dev.dog WHERE age > 4 AND name LIKE 'P%' OR w IS NULL", catalog())
    assert plan.scans[0]["where"] == "age > 4 AND name LIKE 'P%' OR w IS NULL"
    predicate = compile_predicate(plan.scans[0])
    assert [r["id"] for r in ROWS if predicate(r)] == [1, 2]  # "7" is not above 4: a range stays in its type
    assert list(plan.finish([[ROWS[0]]])) == [{"id": 1}]
    functions = sql.plan_sql("SELECT id FROM dev.dog WHERE UPPER(name) = 'PENNY'", catalog())
    assert [r["id"] for r in ROWS if compile_predicate(functions.scans[0])(r)] == [1]


def test_sql_errors():
    with pytest.raises(HarperError, match="line 1, column"):
        sql.plan_sql("SELECT * FROM dev.dog WHERE (", catalog())
    with pytest.raises(HarperError, match="schema not defined for table dog"):
        sql.plan_sql("SELECT * FROM dog", catalog())
    with pytest.raises(HarperError, match="A search runs a SELECT, not UPDATE"):
        sql.plan_sql("UPDATE dev.dog SET age = 1", catalog())


def test_a_large_sort_runs_on_disk_and_stays_stable(monkeypatch):
    monkeypatch.setattr(sort, "SORT_RUN", 7)
    rnd = random.Random(3)
    rows = [{"id": i, "a": rnd.choice([None, 1, 2, "x", 3.5]), "b": rnd.randint(0, 5)} for i in range(100)]
    keys = [("a", True), ("b", False)]
    expected = list(rows)
    for attribute, descending in reversed(keys):
        expected.sort(key=lambda r: plan.order_key(r.get(attribute)), reverse=descending)
    assert list(sort.sort_rows(iter(rows), keys, "id")) == expected
    merged = iter(rows)
    assert sort.sort_rows(merged, [("id", False)], "id") is merged  # already in key order: streamed as it comes


@pytest.mark.parametrize("statement, name, where", [
    ("SELECT COUNT(*) FROM dev.dog", "COUNT(*)", None),
    ("select count(*) as n from dev.dog where age = 7", "n", "age = 7"),
    ("SELECT COUNT(*) FROM dev.dog WHERE age + 1 = 8", "COUNT(*)", "age + 1 = 8"),  # Harper's evaluator, shard-side
])
def test_a_plain_count_is_answered_by_the_shards_counting(statement, name, where):
    plan = sql.plan_sql(statement, catalog())
    assert plan.scans == [{"database": "dev", "table": "dog", "keys": None, "conditions": None, "where": where,
                           "count_only": True}]  # no row travels, the shards evaluate the WHERE
    assert list(plan.answer([iter(())], [42])) == [{name: 42}]


@pytest.mark.parametrize("statement", ["SELECT COUNT(name) FROM dev.dog", "SELECT COUNT(*) FROM dev.dog GROUP BY age",
                                       "SELECT COUNT(DISTINCT age) FROM dev.dog", "SELECT COUNT(*), 1 FROM dev.dog",
                                       "SELECT COUNT(*) FROM dev.dog d JOIN dev.dog e ON d.id = e.id"])
def test_other_counts_are_finished_in_sql(statement):
    plan = sql.plan_sql(statement, catalog())
    assert plan.count_as is None and not plan.scans[0].get("count_only")


NAMES = ["id", "__createdtime__", "__updatedtime__", "a", "b:c", ":d"]


@pytest.mark.parametrize("row", [
    {"id": 1, "__createdtime__": 2, "__updatedtime__": 3, "a": "x", "b:c": None, ":d": 1.5},  # canonical
    {"id": 1, "__createdtime__": 2, "__updatedtime__": 3, "a": "x,", ":d": 1.5},  # lacks an attribute
    {"__createdtime__": 2, "id": 1, "__updatedtime__": 3, "a": "x", "b:c": None, ":d": 1.5},  # another order
    {"id": 1, "__createdtime__": 2, "__updatedtime__": 3, "a": "x", "b:c": None, ":d": 1.5, "e": 0},  # one more
    {"id": 1, "__createdtime__": 2, "__updatedtime__": 3, "a": {"b:c": 1, ":d": 2}},  # names nested further in
    {"id": 1, "__createdtime__": 2, "__updatedtime__": 3, "a": 'say "b:c":', ":d": [1]},  # a name in a string
    {"id": 1, "__createdtime__": 2, "__updatedtime__": 3, "a": "x,", "\":d": 1, "b:c": 2},  # quoted names
    {"id": 1, "__createdtime__": 2, "__updatedtime__": 3, "a": "{", "b:c": "}", ":d": 2 ** 70},  # exact form
])
def test_a_projection_of_stored_bytes_is_exactly_the_projection_of_the_row(row):
    """Stored bytes pass as they are only when they are the projected row; every other row comes out as
    ``project`` makes it (same members, same order)."""
    from pipeline import codec
    raw = codec.dumps(row)
    projected = plan.Projection(NAMES)(raw, codec.loads(raw))
    assert list(codec.loads(projected).items()) == list(next(plan.project([row], NAMES)).items())
    assert (projected is raw) == (list(row) == NAMES)


def test_a_projection_passes_a_stored_row_with_exactly_its_attributes_through():
    from pipeline import codec
    raw = codec.dumps({"id": "k", "__createdtime__": 2, "__updatedtime__": 3, "a": "São, \u00e9", "b:c": True,
                       ":d": None})
    assert plan.Projection(NAMES)(raw, codec.loads(raw)) is raw
    assert plan.Projection([",x", *NAMES])(raw, codec.loads(raw)) is not raw


def test_a_search_in_key_order_has_the_shards_project_and_pages_their_rows():
    c = catalog()
    by_value = nosql.by_value({"database": "dev", "table": "dog", "search_attribute": "id", "search_value": "*",
                               "get_attributes": ["*"], "offset": 1, "limit": 2}, c)
    assert by_value.scans[0]["attributes"] == ["id", "__createdtime__", "__updatedtime__", "age", "name", "w"]
    assert list(by_value.finish_sent(iter([b"1", b"2", b"3", b"4"]))) == [b"2", b"3"]
    sorted_by_name = nosql.by_value({"database": "dev", "table": "dog", "search_attribute": "name",
                                     "search_value": "*", "get_attributes": ["*"]}, c)
    assert sorted_by_name.finish_sent is None and "attributes" not in sorted_by_name.scans[0]
