"""The bytes a shard stores for a row (the contract with the export): canonical order, encoded once."""
from __future__ import annotations

import random

import pytest

from pipeline import codec

VALUES = [1, -2.5, "x", "{not an object}", "a},{b", None, True, [1, "[2]"], {"z": 1, "a": [2]}, {},
          123456789012345678901234567890, "é", ""]
NAMES = ["b", "a", "Z", "é", "_x", "10", "2", "__createdtime__", "__updatedtime__", "id2"]


def _canonical(record: dict, key: str, times: tuple[float, float]) -> list[str]:
    return [key, "__createdtime__", "__updatedtime__",
            *sorted(n for n in record if n not in (key, "__createdtime__", "__updatedtime__"))]


@pytest.mark.parametrize("seed", range(6))
def test_a_batch_encodes_as_its_rows_do_in_the_canonical_order(seed):
    rnd = random.Random(seed)
    plain = seed % 2 == 0  # batches of flat records take the C-speed path; the others fall back row by row
    records = []
    for number in range(200):
        names = [n for n in NAMES if rnd.random() < 0.5 and (not plain or not n.startswith("__"))]
        values = [v for v in VALUES if not plain or (not isinstance(v, (dict, str)) or v in ("x", "é"))
                  and not (isinstance(v, int) and v > 1 << 64)]
        record = {n: rnd.choice(values) for n in names}
        record["id"] = rnd.choice([number, f"k{number}", number + 0.5])
        records.append(record)
    before = [dict(r) for r in records]
    rows = codec.rows_bytes(records, "id")
    assert records == before  # the keys were put back
    assert rows == [codec.row_bytes(r, "id") for r in records]
    times = codec.stored_times(1.5, 2.0)
    for record, row in zip(records, rows):
        stored = codec.loads(row.stored(times))
        assert list(stored) == _canonical(record, "id", (1.5, 2.0))
        assert stored == {**{n: v for n, v in record.items()}, "__createdtime__": 1.5, "__updatedtime__": 2.0}
        assert row.record() == {n: v for n, v in record.items() if not n.startswith("__")}


def test_objects_in_values_keep_their_order():
    [row] = codec.rows_bytes([{"id": 1, "doc": {"z": 1, "a": 2}}], "id")
    assert row.stored(b"") == b'{"id":1,"doc":{"z":1,"a":2}}'


def test_a_flat_batch_is_cut_from_one_encoding():
    records = [{"name": f"n{i}", "id": i, "age": i % 7, "city": "São Paulo", "ok": True} for i in range(50)]
    rows = codec.rows_bytes(records, "id")
    assert rows == [codec.row_bytes(r, "id") for r in records]
    assert rows[3].stored(b"") == '{"id":3,"age":3,"city":"São Paulo","name":"n3","ok":true}'.encode()


def test_keys_encode_all_at_once_as_one_by_one():
    rnd = random.Random(3)
    picks = [0, 1, -1, 2 ** 53, -2 ** 53, 2 ** 53 + 1, -0.0, 0.5, -0.5, 1e-300, -1e300, 5.0, "a", ""]
    for values in ([rnd.randint(-10 ** 15, 10 ** 15) for _ in range(3000)],
                   [rnd.uniform(-1e9, 1e9) for _ in range(3000)],
                   [rnd.choice(picks[:12]) for _ in range(3000)],  # numbers only
                   [rnd.choice(picks) for _ in range(3000)], []):  # with strings and big integers: one by one
        keys = codec.normalize_keys(values)
        assert keys == [codec.normalize_key(v) for v in values]
        assert codec.encode_keys(keys) == [codec.encode_key(k) for k in keys]
