"""Figures for the generated blocks of README.md and docs/: one row per figure, read from a
report in reports/, with the date the report records and the command that wrote it."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from report.report import COMMANDS
from report.results import SHAPES, Embedding, Report, first_problem, present


class Reports:
    """The JSON files of one reports/ folder, read once each: as written (`__call__`, for the
    date and the recorded command) and through their model (`result`, for the figures)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.cache, self.results = folder, {}, {}

    def __call__(self, name: str) -> dict | None:
        if name not in self.cache:
            try:
                data = json.loads((self.folder / name).read_text())
            except (OSError, ValueError):
                data = None
            self.cache[name] = data if isinstance(data, dict) else None
        return self.cache[name]

    def result(self, name: str) -> Report | None:
        """The report through its model (report.results.SHAPES); None when it is missing, a
        pydantic ValidationError when it has another shape."""
        if name not in self.results:
            doc = self(name)
            self.results[name] = None if doc is None else SHAPES[name].model_validate(doc)
        return self.results[name]


# What writes each report that report.py does not read, when the file does not say itself.
WRITERS = COMMANDS | {"gallery.json": "make gallery-eval",
                      "ui/browser.json": "FACE_UI_REFRESH=1 make test PYTEST_ARGS=tests/ui",
                      "stream.json": "make bench-stream",
                      "capacity.json": "python -m bench.capacity",
                      "load_replicas.json": "make serve REPLICAS=2 && make loadtest REPLICAS=2",
                      "gallery_scale.json": "make gallery-bench"}


def recorded_command(name: str, doc: dict | None) -> str:
    """The command the report records, else the make target that writes it."""
    return (doc or {}).get("command") or WRITERS[name]


@dataclass(frozen=True)
class Figure:
    label: str
    report: str                                 # file under reports/, its model in report.results.SHAPES
    value: Callable[[Any], str]                 # the report's model -> the figure as text
    command: Callable[[Any], str] | None = None  # the model (None: missing, another shape) -> its command
    target: Callable[[Any], str] | None = None   # the model -> the target and whether it is met

    def command_of(self, reports: Reports) -> str:
        if self.command is None:
            return recorded_command(self.report, reports(self.report))
        try:
            return self.command(reports.result(self.report))
        except (ValidationError, LookupError, TypeError):  # a report of another shape: the plain target
            return self.command(None)


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
        return found | {"value": "_not run yet_", "target": "", "command": f"`{figure.command_of(reports)}`"}
    try:
        result = reports.result(figure.report)
        value = figure.value(result)
        target = figure.target(result) if figure.target else ""
    except ValidationError as other_shape:
        value, target = f"_not in the report ({first_problem(other_shape)}); rerun the command_", ""
    except (LookupError, TypeError, ValueError, StopIteration) as missing:
        value, target = f"_not in the report ({type(missing).__name__}: {missing}); rerun the command_", ""
    day = date(doc)
    return found | {"value": value, "target": target, "source": found["source"] + (f", {day}" if day else ""),
                    "command": f"`{figure.command_of(reports)}`"}


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def seconds(value: float) -> str:
    return f"{value:.3f} s" if value < 1 else f"{value:.2f} s"


def embedding_rates(e: Embedding, served: str, after: str = "") -> str:
    """Batched embedding throughput as served and at 2 threads (README and docs/performance.md
    word the served setting differently)."""
    two = present(e.two_threads, "embedding at 2 threads")
    return f"{e.served.faces_per_s:.0f} {served}, {two.faces_per_s:.0f} at 2{after}"


def met(flag) -> str:
    return "met" if flag is True else "**not met**"
