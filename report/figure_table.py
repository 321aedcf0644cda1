"""Figures for the generated blocks of README.md and docs/: one row per figure, read from a
report in reports/, with the date the report records and the command that wrote it."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from report.report import COMMANDS


class Reports:
    """The JSON files of one reports/ folder, read once each."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.cache = folder, {}

    def __call__(self, name: str) -> dict | None:
        if name not in self.cache:
            try:
                data = json.loads((self.folder / name).read_text())
            except (OSError, ValueError):
                data = None
            self.cache[name] = data if isinstance(data, dict) else None
        return self.cache[name]


# What writes each report that report.py does not read, when the file does not say itself.
WRITERS = COMMANDS | {"gallery.json": "make gallery-eval",
                      "ui/browser.json": "FACE_UI_REFRESH=1 make test PYTEST_ARGS=tests/ui",
                      "stream.json": "make bench-stream",
                      "capacity.json": "python -m bench.capacity",
                      "load_replicas.json": "make serve REPLICAS=2 && make loadtest REPLICAS=2",
                      "gallery_scale.json": "make gallery-bench"}


def recorded_command(name: str) -> Callable[[dict], str]:
    """The command the report records, else the make target that writes it."""
    return lambda doc: doc.get("command") or WRITERS[name]


@dataclass(frozen=True)
class Figure:
    label: str
    report: str                                   # file under reports/
    value: Callable[[dict], str]                  # the report's JSON -> the figure as text
    command: Callable[[dict], str] | None = None  # the JSON -> the command that wrote it
    target: Callable[[dict], str] | None = None   # the JSON -> the target and whether it is met

    def command_of(self, doc: dict) -> str:
        try:
            return (self.command or recorded_command(self.report))(doc)
        except (KeyError, TypeError, IndexError):  # a report of another shape: the plain target
            return recorded_command(self.report)({})


def date(doc: dict) -> str:
    """The day the report says it was measured ("" when it does not say)."""
    stamp = doc.get("generated")
    return stamp[:10] if isinstance(stamp, str) and re.match(r"\d{4}-\d\d-\d\d", stamp) else ""


def cells(reports: Reports, figure: Figure) -> dict[str, str]:
    """label, value, target, source (the report and its date), command: a missing report or a
    figure the report does not hold says so instead of failing."""
    doc = reports(figure.report)
    found = {"label": figure.label, "source": f"`reports/{figure.report}`"}
    if doc is None:
        return found | {"value": "_not run yet_", "target": "", "command": f"`{figure.command_of({})}`"}
    try:
        value = figure.value(doc)
        target = figure.target(doc) if figure.target else ""
    except (KeyError, TypeError, IndexError, ValueError, StopIteration) as missing:
        value, target = f"_not in the report ({type(missing).__name__}: {missing}); rerun the command_", ""
    day = date(doc)
    return found | {"value": value, "target": target, "source": found["source"] + (f", {day}" if day else ""),
                    "command": f"`{figure.command_of(doc)}`"}


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def seconds(value: float) -> str:
    return f"{value:.3f} s" if value < 1 else f"{value:.2f} s"


def met(flag) -> str:
    return "met" if flag is True else "**not met**"
