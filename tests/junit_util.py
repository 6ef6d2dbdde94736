"""JUnit XML validated against the schemas CI systems read (tests/fixtures/junit)."""

from __future__ import annotations

from functools import cache

import xmlschema
from paths import FIXTURES

SCHEMAS = ("jenkins-junit.xsd", "ant-junit.xsd")


@cache
def schema(name: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(FIXTURES / "junit" / name)


def validate_junit(path) -> None:
    """Raise xmlschema's error (naming the element and the rule) unless ``path`` is
    valid against every schema of SCHEMAS."""
    for name in SCHEMAS:
        schema(name).validate(str(path))
