"""Check a request body against a schema of googleapiclient's bundled discovery documents.

Google refuses a body with a field its schema does not have ("Unknown name")
or of the wrong JSON type; this is the same check, offline, for the bodies
switch sends.
"""

from __future__ import annotations

import json
from pathlib import Path

import googleapiclient

DOCUMENTS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"


def schemas(api: str, version: str) -> dict:
    return json.loads((DOCUMENTS / f"{api}.{version}.json").read_text())["schemas"]


def problems(value, schema: dict, known: dict, where: str = "") -> list[str]:
    """Every way ``value`` does not fit ``schema`` (empty when it fits)."""
    if "$ref" in schema:
        return problems(value, known[schema["$ref"]], known, where)
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where or '.'}: expected an object"]
        found = []
        properties = schema.get("properties")
        for key, item in value.items():
            if properties is not None and key in properties:
                found += problems(item, properties[key], known, f"{where}.{key}")
            elif "additionalProperties" in schema:
                found += problems(item, schema["additionalProperties"], known, f"{where}.{key}")
            else:
                found.append(f"{where}.{key}: unknown field")
        return found
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [p for i, item in enumerate(value) for p in problems(item, schema["items"], known, f"{where}[{i}]")]
    if kind == "string":
        ok = isinstance(value, str)
        if ok and "enum" in schema and value not in schema["enum"]:
            return [f"{where}: {value!r} is not one of {schema['enum']}"]
    elif kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool) or (isinstance(value, str) and value.isdigit())
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = True  # "any"
    return [] if ok else [f"{where}: expected {kind}, got {type(value).__name__}"]


def check(api: str, version: str, schema: str, value) -> list[str]:
    known = schemas(api, version)
    return problems(value, known[schema], known)
