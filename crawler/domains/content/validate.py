"""Content type schemas and entry fields, checked the way the CMA checks them.

Problems are collected, not raised one by one, and become one 422
``ValidationFailed`` whose ``details.errors`` list each problem with its
``name`` and ``path`` like Contentful does.
"""

from __future__ import annotations

import re
from typing import Any

from crawler.errors import InvalidInput

RESOURCE_ID = re.compile(r"^[A-Za-z0-9\-_.]{1,64}$")
FIELD_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
LOCALE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
MAX_FIELDS = 50
FIELD_TYPES = {
    "Symbol",
    "Text",
    "RichText",
    "Integer",
    "Number",
    "Date",
    "Location",
    "Boolean",
    "Link",
    "Array",
    "Object",
    "ResourceLink",
}
LINK_TYPES = {"Entry", "Asset"}
FIELD_DEFAULTS: dict[str, Any] = {
    "localized": False,
    "required": False,
    "validations": [],
    "disabled": False,
    "omitted": False,
}

Problem = dict[str, Any]


class ValidationFailed(InvalidInput):
    """The CMA answers schema violations with 422, not 400."""

    status_code = 422
    code = "ValidationFailed"


def failed(errors: list[Problem]) -> ValidationFailed:
    return ValidationFailed("Validation error", details={"errors": errors})


def storable_text(value: Any, *, allow_nul: bool = False) -> bool:
    """False when text inside holds lone surrogates (UTF-8 cannot store them) or, unless
    allowed, NUL (PostgreSQL text refuses it; canonical JSON bodies escape it and may hold it)."""
    if isinstance(value, str):
        if not allow_nul and "\x00" in value:
            return False
        try:
            value.encode()
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(
            storable_text(k, allow_nul=allow_nul) and storable_text(v, allow_nul=allow_nul)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return all(storable_text(v, allow_nul=allow_nul) for v in value)
    return True


def check_resource_id(value: str, kind: str) -> str:
    if not RESOURCE_ID.match(value):
        raise InvalidInput(
            f"{kind} id {value!r} must be 1-64 characters of letters, digits, '-', '_' or '.'",
            code="BadRequest",
        )
    return value


def normalize_content_type(body: dict[str, Any]) -> dict[str, Any]:
    """A stored schema: {name, description, displayField, fields} with field defaults filled."""
    errors: list[Problem] = []
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append(_problem("required", ["name"], 'The property "name" is required here'))
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        errors.append(_problem("type", ["description"], "expected type: String", type="String"))
    raw_fields = body.get("fields", [])
    if not isinstance(raw_fields, list):
        errors.append(_problem("type", ["fields"], "expected type: Array", type="Array"))
        raw_fields = []
    if len(raw_fields) > MAX_FIELDS:
        errors.append(_problem("size", ["fields"], f"at most {MAX_FIELDS} fields", max=MAX_FIELDS))
    fields = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_fields):
        field = _normalize_field(raw, ["fields", index], errors)
        if field is None:
            continue
        if field["id"] in seen:
            errors.append(_problem("unique", ["fields", index, "id"], "field ids must be unique"))
        seen.add(field["id"])
        fields.append(field)
    display = body.get("displayField")
    if display is not None:
        target = next((f for f in fields if f["id"] == display), None)
        if target is None or target["type"] not in ("Symbol", "Text"):
            errors.append(
                _problem(
                    "invalidDisplayField",
                    ["displayField"],
                    "displayField must name a Symbol or Text field of this content type",
                    value=display,
                )
            )
    if errors:
        raise failed(errors)
    return {
        "name": name,
        "description": description or "",
        "displayField": display,
        "fields": fields,
    }


def _normalize_field(raw: Any, path: list[Any], errors: list[Problem]) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        errors.append(_problem("type", path, "expected type: Object", type="Object"))
        return None
    field_id, name, kind = raw.get("id"), raw.get("name"), raw.get("type")
    ok = True
    if not isinstance(field_id, str) or not FIELD_ID.match(field_id):
        errors.append(_problem("regexp", [*path, "id"], "field id must match " + FIELD_ID.pattern))
        ok = False
    if not isinstance(name, str) or not name.strip():
        errors.append(_problem("required", [*path, "name"], 'The property "name" is required'))
        ok = False
    if kind not in FIELD_TYPES:
        errors.append(_problem("in", [*path, "type"], "unknown field type", value=kind))
        ok = False
    if kind == "Link" and raw.get("linkType") not in LINK_TYPES:
        errors.append(_problem("in", [*path, "linkType"], "linkType must be Entry or Asset"))
        ok = False
    if kind == "Array":
        items = raw.get("items")
        if not isinstance(items, dict) or items.get("type") not in ("Symbol", "Link"):
            errors.append(_problem("in", [*path, "items"], "items.type must be Symbol or Link"))
            ok = False
    for flag in ("localized", "required", "disabled", "omitted"):
        if flag in raw and not isinstance(raw[flag], bool):
            errors.append(_problem("type", [*path, flag], "expected type: Boolean", type="Boolean"))
            ok = False
    if "validations" in raw and not isinstance(raw["validations"], list):
        errors.append(_problem("type", [*path, "validations"], "expected type: Array"))
        ok = False
    if not ok:
        return None
    return {**FIELD_DEFAULTS, **raw}


def check_entry_fields(
    fields: Any, schema: dict[str, Any], *, for_publish: bool = False
) -> dict[str, Any]:
    """Entry fields against the published schema; on publish, required fields must be set."""
    if not isinstance(fields, dict):
        raise failed([_problem("type", ["fields"], "expected type: Object", type="Object")])
    by_id = {f["id"]: f for f in schema.get("fields", [])}
    errors: list[Problem] = []
    for field_id, localized in fields.items():
        path: list[Any] = ["fields", field_id]
        spec = by_id.get(field_id)
        if spec is None:
            errors.append(_problem("unknown", path, f'The property "{field_id}" is not expected'))
            continue
        if not isinstance(localized, dict):
            errors.append(_problem("type", path, "expected an object of locales", type="Object"))
            continue
        for locale, value in localized.items():
            if not LOCALE.match(locale):
                errors.append(_problem("unknown", [*path, locale], f"unknown locale {locale!r}"))
            elif value is not None and not _has_type(value, spec):
                errors.append(
                    _problem(
                        "type",
                        [*path, locale],
                        f'The type of "value" is incorrect, expected type: {spec["type"]}',
                        type=spec["type"],
                        value=value,
                    )
                )
    if for_publish:
        for spec in schema.get("fields", []):
            if spec.get("required") and not spec.get("disabled") and not spec.get("omitted"):
                values = fields.get(spec["id"]) or {}
                if not any(v is not None for v in values.values()):
                    errors.append(
                        _problem(
                            "required",
                            ["fields", spec["id"]],
                            f'The property "{spec["id"]}" is required here',
                        )
                    )
    if errors:
        raise failed(errors)
    return fields


def _has_type(value: Any, spec: dict[str, Any]) -> bool:
    kind = spec["type"]
    if kind in ("Symbol", "Text", "Date"):
        return isinstance(value, str)
    if kind == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "Number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "Boolean":
        return isinstance(value, bool)
    if kind == "Link":
        return _is_link(value)
    if kind == "Location":
        return isinstance(value, dict) and {"lat", "lon"} <= value.keys()
    if kind == "Array":
        item = spec.get("items", {}).get("type")
        check = _is_link if item == "Link" else (lambda v: isinstance(v, str))
        return isinstance(value, list) and all(check(v) for v in value)
    return isinstance(value, dict)  # Object, RichText, ResourceLink


def _is_link(value: Any) -> bool:
    sys = value.get("sys") if isinstance(value, dict) else None
    return isinstance(sys, dict) and sys.get("type") == "Link" and isinstance(sys.get("id"), str)


def _problem(name: str, path: list[Any], details: str, **extra: Any) -> Problem:
    return {"name": name, "path": path, "details": details, **extra}
