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


@lru_cache(maxsize=None)
def avro(topic: str) -> Any:
    """The parsed Avro schema of a topic's values."""
    for definition in definitions():
        if definition["name"] == topic and definition.get("schema"):
            return fastavro.parse_schema(json.loads(_text(definition["schema"])))
    raise KeyError(f"topic {topic!r} has no Avro schema")
