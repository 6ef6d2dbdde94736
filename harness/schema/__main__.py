"""`python -m harness.schema`: rewrite sample.schema.json and docs/record-format.md."""

import os

from harness.schema.generate import markdown, schema_text

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_FILE = os.path.join(HERE, "sample.schema.json")
DOCS_FILE = os.path.join(HERE, "..", "..", "docs", "record-format.md")

for path, text in ((SCHEMA_FILE, schema_text()), (DOCS_FILE, markdown())):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {os.path.normpath(path)}")
