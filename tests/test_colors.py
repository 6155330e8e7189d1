"""When the table is coloured, and that colour never moves its columns."""

from __future__ import annotations

import io
import re

from converge import colors
from converge.report import render_table


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_colours_a_terminal_only():
    assert colors.wanted("auto", Terminal(), {})
    assert not colors.wanted("auto", io.StringIO(), {})


def test_no_color_with_any_value_and_a_dumb_terminal_turn_auto_off():
    assert not colors.wanted("auto", Terminal(), {"NO_COLOR": "1"})
    assert not colors.wanted("auto", Terminal(), {"NO_COLOR": "0"})
    assert colors.wanted("auto", Terminal(), {"NO_COLOR": ""}), "empty is unset (no-color.org)"
    assert not colors.wanted("auto", Terminal(), {"TERM": "dumb"})


def test_always_and_never_decide_whatever_the_stream_and_environment():
    assert colors.wanted("always", io.StringIO(), {"NO_COLOR": "1"})
    assert not colors.wanted("never", Terminal(), {})


def test_each_result_has_its_colour():
    assert colors.paint("PASS", "PASS") == "\x1b[32mPASS\x1b[0m"
    assert colors.paint("FAIL", "FAIL") == "\x1b[31mFAIL\x1b[0m"
    assert colors.paint("WARN", "WARN") == "\x1b[33mWARN\x1b[0m"
    assert colors.paint("INFO", "INFO") == "INFO"


def document() -> dict:
    def scenario(name: str, priority: str, result: str, passed: bool) -> dict:
        return {
            "name": name, "file": f"{priority}/{name}.yaml", "priority": priority,
            "satisfaction": 100.0 if passed else 50.0, "threshold": 85.0, "passed": passed,
            "result": result, "checks_passed": 2 if passed else 1, "checks_total": 2,
            "duration_ms": 12.0, "steps": [], "runs": [],
        }

    scenarios = [
        scenario("a", "critical", "FAIL", False),
        scenario("long name here", "important", "WARN", False),
        scenario("c", "nice-to-have", "PASS", True),
    ]
    counts = {"total": 1, "passed": 0, "failed": 1}
    return {
        "error": None, "exit_code": 1, "scenarios": scenarios,
        "summary": {
            "total": 3, "passed": 1,
            "by_tier": {
                "critical": counts, "important": counts,
                "nice-to-have": {"total": 1, "passed": 1, "failed": 0},
            },
        },
    }


def test_colour_leaves_the_columns_where_they_were():
    plain = render_table(document())
    coloured = render_table(document(), color=True)
    assert coloured != plain
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain
    assert "\x1b[31mFAIL\x1b[0m:" in coloured, "the verdict's word too"
