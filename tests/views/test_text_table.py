"""Plain text tables (harness.views.text_table): what check and the Locust totals print."""

from __future__ import annotations

from harness.views.text_table import text_table

COLUMNS = [("RULE", "left"), ("OBSERVED", "right"), ("VERDICT", "left")]


def test_columns_are_padded_and_justified_two_spaces_apart():
    lines = text_table(COLUMNS, [["CLOSE_WAIT", "1", "FAIL"], ["TIME_WAIT", "1200", "ok"]])
    assert lines == [
        "RULE        OBSERVED  VERDICT",
        "CLOSE_WAIT         1  FAIL",
        "TIME_WAIT       1200  ok",
    ]


def test_a_long_first_cell_is_folded_to_fit_the_width_the_others_stay_on_its_first_line():
    name = "server:" + "x" * 70
    lines = text_table(COLUMNS, [[name, "3", "FAIL"], ["short", "4", "ok"]], width=40)
    assert max(map(len, lines)) <= 40
    first = lines.index(next(line for line in lines if line.startswith("server:")))
    assert lines[first].endswith("3  FAIL")
    assert len(lines[first:-1]) > 1
    assert "".join(line.split()[0] for line in lines[first:-1]) == name
    assert lines[-1].startswith("short") and lines[-1].endswith("4  ok")


def test_title_above_the_header_and_no_trailing_spaces():
    lines = text_table([("HOST", "left"), ("LEAKS", "right"), ("NOTE", "left")],
                       [["a", "0", ""]], title="peaks per host")
    assert lines[0] == "peaks per host" and lines[1] == "HOST  LEAKS  NOTE"
    assert lines[2] == "a         0"
