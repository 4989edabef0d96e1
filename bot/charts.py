"""Digest and stats PNGs, drawn with matplotlib's Agg backend (no display needed).

Colours are mid-tones with a solid card background, so the image reads on a
phone in both light and dark chat themes.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from bot.domain import Image, Topic
from bot.standings import DigestData, MemberStats

CARD = "#f7f7f9"
INK = "#1f2330"
BAR = "#3b82f6"
MUTED = "#9aa3b2"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, facecolor=CARD, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _style(ax) -> None:  # type: ignore[no-untyped-def]
    ax.set_facecolor(CARD)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(colors=INK, labelsize=9)
    ax.title.set_color(INK)


def digest_chart(data: DigestData, four_week_avg: dict[Topic, float] | None = None) -> Image:
    fig, (cov_ax, day_ax) = plt.subplots(1, 2, figsize=(8.4, 3.4), facecolor=CARD)
    topics = list(Topic)
    labels = [t.value for t in topics]
    this_week = [100 * data.coverage_by_topic.get(t, 0.0) for t in topics]
    positions = range(len(topics))
    cov_ax.barh(list(positions), this_week, color=BAR, label="this week")
    if four_week_avg:
        avg = [100 * four_week_avg.get(t, 0.0) for t in topics]
        cov_ax.scatter(avg, list(positions), color=INK, marker="|", s=200, label="4-week avg")
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
    fig.suptitle(f"Week of {data.week_start:%d %b %Y}", color=INK, fontsize=11)
    fig.tight_layout()
    return Image(_png(fig), f"digest-{data.week_start.isoformat()}.png",
                 "Bar charts: key-point coverage by topic this week, and answers per day")


def stats_chart(stats: MemberStats) -> Image:
    fig, ax = plt.subplots(figsize=(6, 3), facecolor=CARD)
    topics = list(stats.topics)
    values = [100 * (t.avg_coverage or 0.0) for t in topics]
    ax.barh([t.topic.value for t in topics], values,
            color=[BAR if t.avg_coverage is not None else MUTED for t in topics])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_title("Your key-point coverage by topic (%)", fontsize=10)
    _style(ax)
    fig.tight_layout()
    return Image(_png(fig), "stats.png", "Bar chart of your key-point coverage per topic")
