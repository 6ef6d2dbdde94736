"""The sample contract: version.py holds its number (SCHEMA), catalogue.py the findings'
names and severities; records.py declares every record socklife writes (TypedDicts with
types, units, meaning); shape.py reduces their annotations; validate.py checks JSON
against them (the readers' validator, compiled from the shipped schema); generate.py
writes the JSON Schema shipped here (sample.schema.json) and docs/record-format.md
(``python -m harness.schema``). Imports nothing of socklife's.
"""
