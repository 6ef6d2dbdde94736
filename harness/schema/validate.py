"""Validate JSON values against the records (harness.schema.records), as the readers do.

Each record compiles once into a checker; a value that does not fit raises
ContractError naming the field's path and what was wrong::

    >>> from harness.schema.records import Listener
    >>> row = {"local": "127.0.0.1:80", "accept_queue": 0, "backlog": "5"}
    >>> validate(row, Listener, partial=True)
    Traceback (most recent call last):
    ...
    harness.schema.validate.ContractError: backlog: expected an integer, got a string

Floats must be finite (JSON has no NaN); an integer is a number; true is not an integer.
``partial`` accepts missing fields of records other than list rows (lines written
before the contract had a version lack sections added since, never a row's field).
Unknown fields are refused: a producer cannot add one without declaring it.

The checkers are compiled from the JSON Schema shipped beside this module
(sample.schema.json, generated from the records and held to them by a test), not from
the TypedDicts: building those is most of what importing records.py costs, and a reader
of recorded runs (check, report) should not pay it. A record is named by its TypedDict
or by that name.
"""

import json
import math
import os
from functools import cache

from harness.schema.version import SCHEMA

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample.schema.json")
# A scalar shape's JSON Schema type (generate.py writes them; _shape reads them back)
JSON_TYPES = {"int": "integer", "float": "number", "str": "string", "bool": "boolean",
              "null": "null"}
_KINDS = {json_type: kind for kind, json_type in JSON_TYPES.items()}
NAMES = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
         "null": "null", "list": "a list", "tuple": "a list", "dict": "an object",
         "record": "an object", "literal": "one of"}


ALWAYS = {"sample": ("time", "states"), "summary": ("summary",)}  # even in partial lines


class ContractError(ValueError):
    """A value that breaks the contract: ``where`` (a field path) and ``problem``."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where, self.problem = where, problem


class _Bad(Exception):
    def __init__(self, problem: str):
        self.problem = problem
        self.path: list[str] = []  # innermost first, filled on the way out


def _got(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number" if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _expected(sh: tuple) -> str:
    if sh[0] == "union":
        return " or ".join(_expected(s) for s in sh[1])
    if sh[0] == "literal":
        return "one of " + ", ".join(map(repr, sh[1]))
    if sh[0] == "tuple":
        return f"a list of {len(sh[1])}"
    return NAMES[sh[0]]


def _fail(sh: tuple, value):
    raise _Bad(f"expected {_expected(sh)}, got {_got(value)}")


def _compile(sh: tuple, partial: bool):
    kind = sh[0]
    if kind == "int":
        def check(v):
            if type(v) is not int:
                _fail(sh, v)
    elif kind == "float":
        def check(v):
            t = type(v)
            if t is float:
                if not math.isfinite(v):
                    _fail(sh, v)
            elif t is not int:
                _fail(sh, v)
    elif kind in ("str", "bool"):
        want = str if kind == "str" else bool

        def check(v):
            if type(v) is not want:
                _fail(sh, v)
    elif kind == "null":
        def check(v):
            if v is not None:
                _fail(sh, v)
    elif kind == "literal":
        allowed = sh[1]

        def check(v):
            if not any(type(v) is type(a) and v == a for a in allowed):
                _fail(sh, v)
    elif kind == "union":
        options = [_compile(s, partial) for s in sh[1]]

        def check(v):
            for option in options:
                try:
                    option(v)
                    return
                except _Bad:
                    continue
            _fail(sh, v)
    elif kind == "list":
        item = _compile(sh[1], False)  # rows kept their shape: only sections are partial

        def check(v):
            if type(v) is not list:
                _fail(sh, v)
            for i, x in enumerate(v):
                try:
                    item(x)
                except _Bad as bad:
                    bad.path.append(f"[{i}]")
                    raise
    elif kind == "tuple":
        items = [_compile(s, partial) for s in sh[1]]

        def check(v):
            if type(v) is not list or len(v) != len(items):
                _fail(sh, v)
            for i, (c, x) in enumerate(zip(items, v, strict=True)):
                try:
                    c(x)
                except _Bad as bad:
                    bad.path.append(f"[{i}]")
                    raise
    elif kind == "dict":
        value_check = _compile(sh[1], partial)

        def check(v):
            if type(v) is not dict:
                _fail(sh, v)
            for k, x in v.items():
                try:
                    value_check(x)
                except _Bad as bad:
                    bad.path.append(f".{k}")
                    raise
    else:  # record
        check = _record_checker(sh[1], partial)
    return check


@cache
def _definitions() -> dict:
    """The records' schemas by name (``$defs`` of the shipped schema)."""
    with open(SCHEMA_FILE, encoding="utf-8") as f:
        return json.load(f)["$defs"]


def _shape(js: dict) -> tuple:
    """The shape (shape.shape's kinds, a record by name) of one generated property: the
    inverse of generate._json."""
    if "$ref" in js:
        return ("record", js["$ref"].rsplit("/", 1)[1])
    if "enum" in js:
        return ("literal", tuple(js["enum"]))
    if "anyOf" in js:
        return ("union", tuple(_shape(x) for x in js["anyOf"]))
    kind = js["type"]
    if isinstance(kind, list):
        return ("union", tuple((_KINDS[k],) for k in kind))
    if kind == "array":
        if "prefixItems" in js:
            return ("tuple", tuple(_shape(x) for x in js["prefixItems"]))
        return ("list", _shape(js["items"]))
    if kind == "object":
        return ("dict", _shape(js["additionalProperties"]))
    return (_KINDS[kind],)


@cache
def _record_checker(name: str, partial: bool):
    definition = _definitions()[name]
    required = definition["required"]
    compiled = {field: _compile(_shape(js), partial)
                for field, js in definition["properties"].items()}
    sh_self = ("record", name)

    def check(v):
        if type(v) is not dict:
            _fail(sh_self, v)
        if not partial:
            for name in required:
                if name not in v:
                    raise _Bad(f"missing field {name!r}")
        for k, x in v.items():
            c = compiled.get(k)
            if c is None:
                raise _Bad(f"unknown field {k!r}")
            try:
                c(x)
            except _Bad as bad:
                bad.path.append(f".{k}")
                raise
    return check


def validate(value, record, partial: bool = False) -> None:
    """Raise ContractError unless ``value`` fits ``record`` (a TypedDict of records.py,
    or its name)."""
    name = record if isinstance(record, str) else record.__name__
    try:
        _record_checker(name, partial)(value)
    except _Bad as bad:
        raise ContractError("".join(reversed(bad.path)).lstrip("."), bad.problem) from None


def check_line(doc, partial: bool = False) -> str:
    """Validate one line of a record file; "sample" or "summary".

    A line without ``schema`` was written before the contract was versioned: its fields
    are checked where present (with ``partial``, any line's are), but a sample always has
    its ``time`` and ``states`` (no reader can place a sample without them). A newer
    schema than this socklife reads is refused.
    """
    if not isinstance(doc, dict):
        raise ContractError("", f"expected an object, got {_got(doc)}")
    kind, record = ("summary", "SummaryLine") if "summary" in doc else ("sample", "Sample")
    version = doc.get("schema")
    if version is not None:  # a newer writer's line may lack what this one requires
        if type(version) is not int or version < 1:
            raise ContractError("schema", f"expected a version number, got {version!r}")
        if version > SCHEMA:
            raise ContractError("schema", f"written by a newer socklife (schema {version}; "
                                          f"this one reads {SCHEMA})")
    for name in ALWAYS[kind]:
        if name not in doc:
            raise ContractError("", f"missing field {name!r}")
    if version is None:
        validate(doc, record, partial=True)
        return kind
    validate(doc, record, partial=partial)
    return kind
