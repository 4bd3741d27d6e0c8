"""The JSON Schema of results.json and a validator that names where a document is wrong."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

SCHEMA_RESOURCE = "results.schema.json"


def load_schema() -> dict[str, Any]:
    """The schema (draft 2020-12), read from the installed package."""
    text = files("preflight.reports").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft202012Validator:
    # jsonschema is imported here, not at module level: it is needed only to validate.
    from jsonschema import Draft202012Validator

    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate_results(data: Any) -> None:
    """Raise ValueError naming the JSON path of the first problem, e.g. `$.results[2].status`."""
    from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

    error = best_match(_validator().iter_errors(data))
    if error is not None:
        where = json_path(error.absolute_path)
        raise ValueError(f"results.json invalid at {where}: {error.message}")


def json_path(parts: Iterable[str | int]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path
