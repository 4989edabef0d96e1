"""Digest and stats PNGs, drawn with matplotlib's Agg canvas (no display needed).

Colours are mid-tones with a solid card background, so the image reads on a
phone in both light and dark chat themes.

Why drawing looks the way it does here:
- matplotlib and numpy cost ~100 MB and most of a second to import, and only
  charts need them, so they are imported inside the drawing functions, on the
  first chart, never when `bot` is imported.
- Drawing takes a few hundred milliseconds of CPU; on the event loop it would
  hold up every other channel's ack. The public functions are coroutines that
  draw on ONE dedicated worker thread: matplotlib is not thread-safe, so one
  thread also serialises all drawing.
- Figures are built with the object API (`Figure` + `FigureCanvasAgg`), never
  pyplot, so there is no global figure registry to leak or race on.
"""

from __future__ import annotations

import asyncio
import functools
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from bot.domain import Image, Topic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bot.standings import DigestData, MemberStats

CARD = "#f7f7f9"
INK = "#1f2330"
BAR = "#3b82f6"
MUTED = "#9aa3b2"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _drawer() -> ThreadPoolExecutor:
    """The one chart thread, created on first use (so importing `bot` starts no thread)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlsd-chart")
        return _executor


async def _off_loop(draw: Any, *args: Any) -> Image:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_drawer(), functools.partial(draw, *args))  # type: ignore[no-any-return]


async def digest_chart(data: DigestData, four_week_avg: dict[Topic, float] | None = None) -> Image:
    """The weekly digest's PNG, drawn off the event loop."""
    return await _off_loop(draw_digest_chart, data, four_week_avg)


async def stats_chart(stats: MemberStats) -> Image:
    """A member's `/mlsd stats` PNG, drawn off the event loop."""
    return await _off_loop(draw_stats_chart, stats)


# ------------------------------------------------------------- drawing (chart thread)


def _figure(**kwargs: Any) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(facecolor=CARD, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, facecolor=CARD, bbox_inches="tight")
    return buffer.getvalue()


def _style(ax) -> None:  # type: ignore[no-untyped-def]
    ax.set_facecolor(CARD)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(colors=INK, labelsize=9)
    ax.title.set_color(INK)


def draw_digest_chart(data: DigestData, four_week_avg: dict[Topic, float] | None = None) -> Image:
    """Synchronous drawing; call it only from the chart thread (or a script with no loop)."""
    fig = _figure(figsize=(8.4, 3.4))
    cov_ax, day_ax = fig.subplots(1, 2)
    topics = list(Topic)
    labels = [t.value for t in topics]
    this_week = [100 * data.coverage_by_topic.get(t, 0.0) for t in topics]
    four_week_avg = four_week_avg if four_week_avg is not None else data.coverage_4wk
    positions = list(range(len(topics)))
    cov_ax.barh(positions, this_week, color=BAR, label="this week")
    for y, topic, value in zip(positions, topics, this_week, strict=True):
        has_data = topic in data.coverage_by_topic
        cov_ax.text(value + 1.5 if has_data else 1.5, y, f"{value:.0f}%" if has_data else "no answers",
                    va="center", fontsize=8, color=INK if has_data else MUTED)
    if four_week_avg:
        marked = [(p, 100 * four_week_avg[t]) for p, t in zip(positions, topics, strict=True) if t in four_week_avg]
        cov_ax.scatter([v for _, v in marked], [p for p, _ in marked], color=INK, marker="|", s=260,
                       linewidths=2, label="4-week avg", zorder=3)
        cov_ax.legend(fontsize=8, frameon=False, loc="lower right")
    cov_ax.set_yticks(list(positions), labels)
    cov_ax.invert_yaxis()
    cov_ax.set_xlim(0, 100)
    cov_ax.set_title("Key-point coverage by topic (%)", fontsize=10)
    _style(cov_ax)
    day_ax.bar(DAYS, data.answers_by_day, color=[BAR if n else MUTED for n in data.answers_by_day])
    day_ax.set_title("Answers by day", fontsize=10)
    day_ax.yaxis.get_major_locator().set_params(integer=True)
    _style(day_ax)
    fig.suptitle(f"Week of {data.week_start:%d %b %Y} · participation "
                 f"{'–' if data.participation is None else f'{data.participation:.0%}'}", color=INK, fontsize=11)
    fig.tight_layout()
    return Image(_png(fig), f"digest-{data.week_start.isoformat()}.png",
                 "Bar charts: key-point coverage by topic this week, and answers per day")


def draw_stats_chart(stats: MemberStats) -> Image:
    """Coverage by topic, and the member's weekly coverage over the last eight weeks (chart thread only)."""
    fig = _figure(figsize=(8.4, 3.2))
    topic_ax, trend_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    topics = list(stats.topics)
    values = [100 * (t.avg_coverage or 0.0) for t in topics]
    topic_ax.barh([t.topic.value for t in topics], values,
                  color=[BAR if t.avg_coverage is not None else MUTED for t in topics])
    topic_ax.invert_yaxis()
    topic_ax.set_xlim(0, 100)
    topic_ax.set_title("Coverage by topic (%)", fontsize=10)
    _style(topic_ax)
    weeks = stats.weekly_coverage
    labels = [w.strftime("%d %b") for w, _ in weeks]
    points = [(i, 100 * v) for i, (_, v) in enumerate(weeks) if v is not None]
    if points:
        trend_ax.plot([i for i, _ in points], [v for _, v in points], color=BAR, marker="o", linewidth=2)
    else:
        trend_ax.text(0.5, 0.5, "no answers yet", ha="center", va="center", color=MUTED,
                      transform=trend_ax.transAxes)
    trend_ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    trend_ax.set_ylim(0, 100)
    trend_ax.set_title("Your coverage, last 8 weeks (%)", fontsize=10)
    _style(trend_ax)
    fig.tight_layout()
    return Image(_png(fig), "stats.png",
                 "Your key-point coverage per topic, and per week over the last eight weeks")
