"""The topics, defined once: ``topics.json`` (names, partitions, configs) and the Avro schemas of their values.

They ship as package data, so an installed wheel finds them; a consumer
outside this project reads the ``.avsc`` files from here (or from the
repository's ``pipeline/schemas/``) and decodes a value with fastavro's
``schemaless_reader(buf, parse_schema(avsc))``.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import fastavro


def _text(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text()


@lru_cache(maxsize=1)
def definitions() -> list[dict[str, Any]]:
    """Every topic: its logical name, partitions (a number or a setting's name), key, value and configs."""
    return json.loads(_text("topics.json"))["topics"]


def _schema(topic: str) -> dict[str, Any]:
    for definition in definitions():
        if definition["name"] == topic and definition.get("schema"):
            return json.loads(_text(definition["schema"]))
    raise KeyError(f"topic {topic!r} has no Avro schema")


@lru_cache(maxsize=None)
def avro(topic: str) -> Any:
    """The parsed Avro schema of a topic's values."""
    return fastavro.parse_schema(_schema(topic))


@lru_cache(maxsize=None)
def earlier_avro(topic: str) -> list[Any]:
    """The schemas a topic's values may have been written with before: the current one without its last field,
    without its last two, and so on, down to the first field with no default.

    A field is only ever added at the end of a schema, with a default, so a
    value written before it was added is the current schema's encoding cut short;
    read with the one of these that wrote it as the writer's schema and the
    current one as the reader's, it gets the new fields' defaults.
    """
    schema = _schema(topic)
    earlier = []
    fields = list(schema["fields"])
    while fields and "default" in fields[-1]:
        fields.pop()
        earlier.append(fastavro.parse_schema({**schema, "fields": list(fields)}))
    return earlier
