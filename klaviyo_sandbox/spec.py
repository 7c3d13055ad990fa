"""Klaviyo's OpenAPI slices (revision 2026-07-15), as data the sandbox and the tests share.

`openapi/` holds verbatim copies of klaviyo/openapi's `accounts`, `lists`, `profiles`,
`events`, `metrics` and `data_privacy` category files, and `flows` trimmed to its read
operations (see openapi/SOURCE). From them this module gives each operation's method,
path, scopes and rate limits, and validates bodies against its schemas:

- `validate_request_body(operation_id, body)`: what the sandbox answers 400 with, and what a
  contract test of the product's Klaviyo client can assert is empty for every request it sends;
- `validate_response_body(operation_id, status, body)`: what the sandbox's contract test asserts
  is empty for every response the sandbox sends.

The slices are OpenAPI 3.0, whose schemas are not quite JSON Schema (`nullable`, `$ref`s into
`components`), so each is converted once to JSON Schema 2020-12 and checked with `jsonschema`,
formats included (`date-time`, `date`, `uri`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match, relevance

SPEC_DIR = Path(__file__).resolve().parent / "openapi"
SLICES = ("accounts", "lists", "profiles", "events", "metrics", "flows", "data_privacy")
HTTP_METHODS = ("get", "post", "patch", "put", "delete")
MEDIA_TYPE = "application/vnd.api+json"

# Keys whose value maps names to schemas: the names are data, not schema keywords.
_SCHEMA_MAPS = {"properties", "patternProperties", "schemas", "$defs"}
_DROPPED = {"nullable", "example", "examples", "description", "discriminator", "xml"}


@dataclass(frozen=True)
class SpecViolation:
    """One way a body breaks its schema: where (a JSON pointer) and what."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str  # the spec's template, e.g. /api/lists/{id}
    scopes: tuple[str, ...]
    rate_limits: dict[str, str]  # e.g. {"burst": "10/s", "steady": "150/m", "daily": "150/d"}
    slice_name: str
    request_schema: dict[str, Any] | None
    response_schemas: dict[str, dict[str, Any] | None] = field(repr=False)
    path_regex: re.Pattern[str] = field(repr=False)


def _convert(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema 2020-12 (`nullable` becomes a `null` alternative)."""
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or key.startswith("x-"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _convert(schema) for name, schema in value.items()}
        elif key in {"enum", "default", "const", "required"}:
            out[key] = value
        else:
            out[key] = _convert(value)
    if node.get("nullable") is True:
        if any(key in out for key in ("$ref", "oneOf", "anyOf", "allOf")):
            return {"anyOf": [out, {"type": "null"}]}
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


@cache
def _document(slice_name: str) -> dict[str, Any]:
    return json.loads((SPEC_DIR / f"{slice_name}.json").read_text())


@cache
def _components(slice_name: str) -> dict[str, Any]:
    return {"schemas": _convert(_document(slice_name)["components"]["schemas"])}


def _content_schema(container: dict[str, Any] | None, slice_name: str) -> dict[str, Any] | None:
    if not container:
        return None
    if "$ref" in container:  # a shared response such as ClientError
        name = container["$ref"].rsplit("/", 1)[-1]
        container = _document(slice_name)["components"]["responses"][name]
    content = container.get("content") or {}
    media = content.get(MEDIA_TYPE) or next(iter(content.values()), None)
    return media.get("schema") if media else None


def _path_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
    return re.compile(f"^{pattern}/?$")


@cache
def operations() -> dict[str, Operation]:
    """Every operation in the slices, by operationId."""
    found: dict[str, Operation] = {}
    for slice_name in SLICES:
        for path, item in _document(slice_name)["paths"].items():
            for method in HTTP_METHODS:
                op = item.get(method)
                if not op:
                    continue
                request_body = op.get("requestBody")
                found[op["operationId"]] = Operation(
                    operation_id=op["operationId"],
                    method=method.upper(),
                    path=path,
                    scopes=tuple(op.get("x-klaviyo-scopes", ())),
                    rate_limits=dict(op.get("x-klaviyo-ratelimit", {})),
                    slice_name=slice_name,
                    request_schema=_content_schema(request_body, slice_name),
                    response_schemas={
                        status: _content_schema(response, slice_name)
                        for status, response in op["responses"].items()
                    },
                    path_regex=_path_regex(path),
                )
    return found


def operation(operation_id: str) -> Operation:
    return operations()[operation_id]


def revision() -> str:
    return _document("accounts")["info"]["version"]


def find_operation(method: str, url_or_path: str) -> Operation | None:
    """The operation a request is for, from its method and URL (any host or mount point).

    `https://a.klaviyo.com/api/lists/Y6nRLr/` and `/sandbox/klaviyo/api/lists/Y6nRLr` both
    give `get_list` for GET.
    """
    path = urlsplit(url_or_path).path
    index = path.find("/api/")
    if index < 0:
        return None
    path = path[index:]
    candidates = [op for op in operations().values() if op.method == method.upper()]
    # Literal segments win over parameters (`/api/profiles/{id}` must not eat a literal path).
    candidates.sort(key=lambda op: op.path.count("{"))
    return next((op for op in candidates if op.path_regex.match(path)), None)


FORMATS = FormatChecker(formats=())
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time with a time zone")
    datetime.fromisoformat(value)
    return True


@FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if isinstance(value, str):
        date.fromisoformat(value)
    return True


@FORMATS.checks("uri")
def _is_absolute_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


@cache
def _validator(operation_id: str, kind: str, status: str = "") -> Draft202012Validator | None:
    op = operation(operation_id)
    schema = op.request_schema if kind == "request" else op.response_schemas.get(status)
    if schema is None:
        return None
    # `#/components/...` references resolve against this root, which carries the components.
    root = {**_convert(schema), "components": _components(op.slice_name)}
    return Draft202012Validator(root, format_checker=FORMATS)


def _pointer(error: ValidationError) -> str:
    parts = [str(part) for part in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        if missing:
            parts.append(str(missing[0]))
    return "/" + "/".join(parts) if parts else "/"


def _violations(validator: Draft202012Validator, body: Any) -> list[SpecViolation]:
    seen: dict[str, SpecViolation] = {}
    for error in sorted(validator.iter_errors(body), key=relevance):
        # For anyOf/oneOf, report the alternative that came closest, not the whole union,
        # and never "is not of type 'null'" for a value that was not meant to be null.
        while error.context:
            branches = [
                sub
                for sub in error.context
                if not (sub.validator == "type" and sub.validator_value == "null")
            ]
            deeper = best_match(branches or error.context)
            if deeper is None:
                break
            error = deeper
        violation = SpecViolation(pointer=_pointer(error), message=error.message)
        seen.setdefault(violation.pointer, violation)
    return sorted(seen.values(), key=lambda violation: violation.pointer)


def validate_request_body(operation_id: str, body: Any) -> list[SpecViolation]:
    """How `body` breaks the operation's request schema; empty when it is valid.

    The sandbox answers 400 with these; a contract test of the product's client asserts that
    every body it sends gives an empty list. An operation without a request body accepts none.
    """
    validator = _validator(operation_id, "request")
    if validator is None:
        if body in (None, b"", ""):
            return []
        return [SpecViolation(pointer="/", message=f"{operation_id} takes no request body")]
    return _violations(validator, body)


def validate_response_body(operation_id: str, status: int, body: Any) -> list[SpecViolation]:
    """How `body` breaks the schema the spec gives for this operation and status.

    Statuses without a schema of their own use the spec's `4XX`/`5XX` error document; a
    status with no content (204, 202 for subscribe jobs) must have an empty body.
    """
    op = operation(operation_id)
    key = str(status)
    if key not in op.response_schemas:
        key = f"{key[0]}XX"
    if key not in op.response_schemas:
        return [SpecViolation(pointer="/", message=f"{operation_id} never answers {status}")]
    validator = _validator(operation_id, "response", key)
    if validator is None:
        if body in (None, b"", ""):
            return []
        return [SpecViolation(pointer="/", message=f"{operation_id} {status} has no body")]
    return _violations(validator, body)
