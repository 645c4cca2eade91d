"""The JSON Schema of the spec format (``convnas space schema``)."""

from __future__ import annotations

from typing import Any

from space.spec.model import SearchSpec


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of the spec format (``convnas space schema``)."""
    schema = SearchSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "convnas search spec"
    return schema
