"""The readers' validator compiles from the shipped JSON Schema (validate.py): what it
reads there must be what the TypedDicts declare, field by field."""

from __future__ import annotations

import pytest

from harness.schema import records, validate
from harness.schema.shape import fields


def _named(sh: tuple) -> tuple:
    """A shape with each record named instead of its TypedDict."""
    kind = sh[0]
    if kind == "record":
        return ("record", sh[1].__name__)
    if kind in ("union", "tuple"):
        return (kind, tuple(_named(s) for s in sh[1]))
    if kind in ("list", "dict"):
        return (kind, _named(sh[1]))
    return sh


@pytest.mark.parametrize("record", records.RECORDS, ids=lambda r: r.__name__)
def test_every_field_s_shape_read_from_the_schema_is_the_declared_one(record):
    declared = [(name, _named(sh), required) for name, (sh, _doc, required) in fields(record)]
    js = validate._definitions()[record.__name__]
    read = [(name, validate._shape(prop), name in js["required"])
            for name, prop in js["properties"].items()]
    assert read == declared


def test_a_record_is_named_by_its_typeddict_or_its_name():
    row = {"local": "127.0.0.1:80", "accept_queue": 0, "backlog": 5.5}
    for record in (records.Listener, "Listener"):
        with pytest.raises(validate.ContractError, match="backlog: expected an integer"):
            validate.validate(row, record, partial=True)
