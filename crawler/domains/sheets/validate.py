"""Flatfile sheet configs and cell values.

Like Flatfile, a cell that breaks its field's rules is still stored; it is
marked invalid with a message. Only input that cannot be a cell at all (an
object, a list, an unknown field) is refused. Each check is a plain function
chosen once per field, so validating 100,000 records stays cheap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from crawler.domains.content.validate import storable_text
from crawler.errors import InvalidInput

FIELD_TYPES = {
    "string",
    "number",
    "boolean",
    "date",
    "enum",
    "reference",
    "string-list",
    "enum-list",
}
MAX_FIELDS = 500
Message = dict[str, str]
Check = Callable[[Any], str | None]


class Invalid(InvalidInput):
    """A 400 whose details are Flatfile's own ``[{key, message}]`` list."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(errors[0]["message"], details=errors)


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "sheet"


def check_text(value: Any, key: str) -> Any:
    """Refuse text the stores cannot hold (NUL, lone surrogates), anywhere inside `value`."""
    if not storable_text(value):
        raise Invalid([{"key": key, "message": "text must be valid Unicode without NUL"}])
    return value


def normalize_sheet_config(raw: Any, key: str) -> dict[str, Any]:
    """A stored SheetConfig: name, slug and fields checked, everything else kept as given."""
    errors: list[dict[str, str]] = []
    if not isinstance(raw, dict):
        raise Invalid([{"key": key, "message": "sheet config must be an object"}])
    check_text(raw, key)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append({"key": f"{key}.name", "message": "name is required"})
        name = ""
    slug = raw.get("slug") or slugify(name)
    if not isinstance(slug, str):
        errors.append({"key": f"{key}.slug", "message": "slug must be a string"})
    fields = raw.get("fields")
    if not isinstance(fields, list) or not fields:
        errors.append({"key": f"{key}.fields", "message": "fields must be a non-empty list"})
        fields = []
    if len(fields) > MAX_FIELDS:
        errors.append({"key": f"{key}.fields", "message": f"at most {MAX_FIELDS} fields"})
    seen: set[str] = set()
    normalized = []
    for index, field in enumerate(fields):
        where = f"{key}.fields.{index}"
        if not isinstance(field, dict):
            errors.append({"key": where, "message": "field must be an object"})
            continue
        field_key, kind = field.get("key"), field.get("type", "string")
        if not isinstance(field_key, str) or not field_key.strip():
            errors.append({"key": f"{where}.key", "message": "key is required"})
            continue
        if field_key in seen:
            errors.append({"key": f"{where}.key", "message": f"duplicate field key {field_key!r}"})
        seen.add(field_key)
        if kind not in FIELD_TYPES:
            errors.append({"key": f"{where}.type", "message": f"unknown field type {kind!r}"})
        constraints = field.get("constraints", [])
        if not isinstance(constraints, list) or not all(isinstance(c, dict) for c in constraints):
            errors.append({"key": f"{where}.constraints", "message": "must be a list of objects"})
        normalized.append({**field, "type": kind, "label": field.get("label") or field_key})
    if errors:
        raise Invalid(errors)
    return {**raw, "name": name, "slug": slug, "fields": normalized}


def field_keys(config: dict[str, Any]) -> list[str]:
    return [f["key"] for f in config.get("fields", [])]


def _options(field: dict[str, Any]) -> set[Any]:
    options = (field.get("config") or {}).get("options") or []
    return {o.get("value") for o in options if isinstance(o, dict)}


def _type_check(field: dict[str, Any]) -> Check:
    kind = field["type"]
    if kind == "number":
        return lambda v: (
            None
            if isinstance(v, int | float) and not isinstance(v, bool)
            else f"{v!r} is not a number"
        )
    if kind == "boolean":
        return lambda v: None if isinstance(v, bool) else f"{v!r} is not a boolean"
    if kind == "enum":
        allowed = _options(field)
        return lambda v: None if v in allowed else f"{v!r} is not one of the allowed options"
    if kind == "enum-list":
        allowed = _options(field)
        return lambda v: (
            None
            if isinstance(v, list) and all(item in allowed for item in v)
            else f"{v!r} holds a value that is not an allowed option"
        )
    return lambda _v: None


class Validator:
    """Checks records against one sheet config."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.fields = {f["key"]: f for f in config.get("fields", [])}
        self.allow_extra = bool(config.get("allowAdditionalFields"))
        self.required = [
            key
            for key, f in self.fields.items()
            if any(c.get("type") == "required" for c in f.get("constraints", []))
        ]
        self.checks = {key: _type_check(f) for key, f in self.fields.items()}

    def cell_messages(self, key: str, value: Any) -> list[Message]:
        if value is None or value == "":
            if key in self.required:
                return [{"type": "error", "source": "required-constraint", "message": "required"}]
            return []
        check = self.checks.get(key)
        problem = check(value) if check else None
        return [{"type": "error", "source": "type", "message": problem}] if problem else []

    def is_valid(self, values: dict[str, Any]) -> bool:
        for key in self.required:
            if values.get(key) in (None, ""):
                return False
        for key, value in values.items():
            check = self.checks.get(key)
            if check is not None and value is not None and value != "" and check(value):
                return False
        return True

    def clean_values(self, cells: Any, key: str) -> dict[str, Any]:
        """Request cells ``{field: {value}}`` as stored values ``{field: value}``."""
        if not isinstance(cells, dict):
            raise Invalid([{"key": key, "message": "a record must be an object of fields"}])
        values: dict[str, Any] = {}
        for field, cell in cells.items():
            where = f"{key}.{field}"
            if field not in self.fields and not self.allow_extra:
                raise Invalid([{"key": where, "message": f"unknown field {field!r}"}])
            if not isinstance(cell, dict):
                raise Invalid([{"key": where, "message": "a cell must be an object with value"}])
            value = cell.get("value")
            if isinstance(value, float) and not math.isfinite(value):
                raise Invalid([{"key": f"{where}.value", "message": "numbers must be finite"}])
            is_list = self.fields.get(field, {}).get("type", "").endswith("-list")
            if is_list and isinstance(value, list) and all(isinstance(v, str) for v in value):
                pass  # string-list and enum-list cells hold lists of strings
            elif not (value is None or isinstance(value, str | int | float | bool)):
                raise Invalid([{"key": f"{where}.value", "message": "value must be a scalar"}])
            if not storable_text(value, allow_nul=True):
                raise Invalid([{"key": f"{where}.value", "message": "text must be valid Unicode"}])
            values[field] = value
        return values
