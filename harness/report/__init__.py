"""Self-contained HTML reports: the run report of a recorded JSONL (plots over time) and
the scenario report (a sequence diagram per scenario, drawn as inline SVG)."""
