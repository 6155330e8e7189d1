"""``converge trend REPORT...``: each scenario's satisfaction across reports, in time order.

The reports are ordered by when their run started (not by the order given), so a folder of
downloaded artifacts can be passed as a glob. A scenario is followed by its file, as
``--baseline`` matches them. ``--plot FILE.png`` draws the same series with matplotlib, an
optional extra (``pip install 'converge[plot]'``): converge itself never needs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from tabulate import tabulate

from converge.errors import ConfigError, ReportError
from converge.model import TIERS
from converge.report import _delta, _one_line, _percent, load_report

_TIER_ORDER: dict[str, int] = {tier: position for position, tier in enumerate(TIERS)}


@dataclass(frozen=True)
class Point:
    report: int  # position in time order, from 1
    satisfaction: float
    lower_bound: float | None


@dataclass(frozen=True)
class Series:
    name: str
    file: str
    priority: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Trend:
    reports: tuple[tuple[Path, datetime, str | None], ...]  # file, started at, error
    series: tuple[Series, ...]


def load(paths: Sequence[Path]) -> Trend:
    """The reports in time order and each scenario's series through them."""
    if not paths:
        raise ConfigError("converge trend needs at least one report")
    documents = sorted(
        ((path, load_report(path)) for path in paths), key=_started
    )
    reports = tuple(
        (path, _started((path, document)), _first_line(document.get("error")))
        for path, document in documents
    )
    points: dict[str, list[Point]] = {}
    latest: dict[str, Mapping[str, Any]] = {}
    for position, (_path, document) in enumerate(documents, start=1):
        for scenario in document["scenarios"]:
            points.setdefault(scenario["file"], []).append(
                Point(position, scenario["satisfaction"], scenario.get("satisfaction_lower_bound"))
            )
            latest[scenario["file"]] = scenario  # its newest name and tier
    series = sorted(
        (
            Series(latest[file]["name"], file, latest[file]["priority"], tuple(found))
            for file, found in points.items()
        ),
        key=lambda s: (_TIER_ORDER.get(s.priority, len(TIERS)), s.name, s.file),
    )
    return Trend(reports, tuple(series))


def _started(item: tuple[Path, Mapping[str, Any]]) -> datetime:
    path, document = item
    try:
        return datetime.fromisoformat(str(document["started_at"]))
    except ValueError:
        raise ReportError(f"{path}: started_at is not a date and time") from None


def _first_line(error: Any) -> str | None:
    return str(error).splitlines()[0] if error else None


def render(trend: Trend) -> str:
    """The terminal view: a row per scenario, a column per report, and which report is which."""
    columns = [f"#{n}" for n in range(1, len(trend.reports) + 1)]
    rows = []
    for series in trend.series:
        by_report = {point.report: point for point in series.points}
        cells = [_percent(by_report[n].satisfaction) if n in by_report else "-"
                 for n in range(1, len(trend.reports) + 1)]
        first, last = series.points[0], series.points[-1]
        change = _delta(last.satisfaction - first.satisfaction) if len(series.points) > 1 else ""
        rows.append([series.priority, _one_line(series.name), *cells, change])
    lines = []
    if rows:
        lines.append(
            tabulate(
                rows,
                headers=["Tier", "Scenario", *columns, "Change"],
                tablefmt="simple",
                disable_numparse=True,
            )
        )
        lines.append("")
    for number, (path, started, error) in enumerate(trend.reports, start=1):
        note = f"  (could not judge: {_one_line(error)})" if error else ""
        lines.append(f"#{number}  {started.isoformat(timespec='minutes')}  {path}{note}")
    return "\n".join(lines) + "\n"


def plot(trend: Trend, target: Path) -> None:
    """Draw each scenario's satisfaction over the reports' start times into a PNG file."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display, no GUI toolkit
        from matplotlib import pyplot
    except ImportError:
        raise ConfigError(
            "converge trend --plot needs matplotlib, an optional extra: "
            "pip install 'converge[plot]' (or pip install matplotlib)"
        ) from None
    figure, axes = pyplot.subplots(figsize=(10, 5.5))
    try:
        times = [started for _path, started, _error in trend.reports]
        for series in trend.series:
            axes.plot(
                # matplotlib takes datetimes on an axis; its stubs only say numbers and arrays.
                cast(Any, [times[point.report - 1] for point in series.points]),
                [point.satisfaction for point in series.points],
                marker="o",
                label=f"{series.name} ({series.priority})",
            )
        axes.xaxis_date()
        axes.set_ylim(-2, 102)
        axes.set_ylabel("satisfaction (%)")
        axes.set_title("converge: satisfaction per scenario")
        axes.grid(alpha=0.3)
        if trend.series:
            axes.legend(fontsize="small", loc="lower left")
        figure.autofmt_xdate()
        figure.tight_layout()
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target, format="png", dpi=100)
    except OSError as error:
        raise ReportError(f"{target}: cannot write the plot: {error}") from None
    finally:
        pyplot.close(figure)
