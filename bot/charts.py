"""Digest and stats PNGs, drawn with matplotlib's Agg canvas in a separate chart process.

Colours are mid-tones with a solid card background, so the image reads on a
phone in both light and dark chat themes.

Why drawing is set up this way:
- matplotlib and numpy cost ~100 MB and a second or more to import, and only
  charts need them: nothing under `bot` imports them; the drawing functions
  import them, on the first chart.
- Drawing must not stall the event loop. A worker *thread* is not enough:
  importing matplotlib and rendering hold the interpreter lock for stretches of
  tens to hundreds of milliseconds (measured by `bench/digest_stall.py`: a
  424 ms stall on the first chart), and every other channel's ack waits for
  it. So the charts are drawn in ONE child process (`python -m bot.charts`),
  started on the first chart and kept; the bot's process only pickles a few
  numbers over a pipe and reads the PNG back, on one dedicated I/O thread that
  also serialises requests. If the child cannot be started, drawing falls back
  to that same single thread in-process (matplotlib is not thread-safe; one
  thread serialises it).
- Figures are built with the object API (`Figure` + `FigureCanvasAgg`), never
  pyplot, so there is no global figure registry to leak or race on.
"""

from __future__ import annotations

import asyncio
import atexit
import io
import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bot.domain import Image, Topic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bot.standings import DigestData, MemberStats

log = logging.getLogger(__name__)

CARD = "#f7f7f9"
INK = "#1f2330"
BAR = "#3b82f6"
MUTED = "#9aa3b2"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DRAW_TIMEOUT = 60.0  # seconds for one chart, the child's first import included


# ------------------------------------------------------------------ what is drawn (plain data)


@dataclass(frozen=True)
class DigestSpec:
    week_start: date
    participation: float | None
    coverage: dict[Topic, float]
    four_week: dict[Topic, float]
    answers_by_day: tuple[int, ...]


@dataclass(frozen=True)
class StatsSpec:
    topics: tuple[tuple[Topic, float | None], ...]  # average coverage per topic (None: no answers)
    weekly: tuple[tuple[date, float | None], ...]


# -------------------------------------------------------------------------- public API


async def digest_chart(data: DigestData, four_week_avg: dict[Topic, float] | None = None) -> Image:
    """The weekly digest's PNG, drawn off the event loop."""
    spec = DigestSpec(data.week_start, data.participation, dict(data.coverage_by_topic),
                      dict(four_week_avg if four_week_avg is not None else data.coverage_4wk),
                      tuple(data.answers_by_day))
    return await _draw(spec)


async def stats_chart(stats: MemberStats) -> Image:
    """A member's `/mlsd stats` PNG, drawn off the event loop."""
    spec = StatsSpec(tuple((t.topic, t.avg_coverage) for t in stats.topics), tuple(stats.weekly_coverage))
    return await _draw(spec)


async def _draw(spec: DigestSpec | StatsSpec) -> Image:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_io_thread(), _CHILD.draw, spec)


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _io_thread() -> ThreadPoolExecutor:
    """The one chart thread, created on first use (importing `bot` starts no thread)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlsd-chart")
        return _executor


# ------------------------------------------------------------------------ the child


def _send(pipe: IO[bytes], obj: Any) -> None:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(struct.pack(">I", len(body)) + body)
    while view:
        view = view[pipe.write(view) or 0:]
    pipe.flush()


def _read_exact(pipe: IO[bytes], size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = pipe.read(left)
        if not chunk:
            raise EOFError("chart process closed its pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _receive(pipe: IO[bytes]) -> Any:
    (size,) = struct.unpack(">I", _read_exact(pipe, 4))
    return pickle.loads(_read_exact(pipe, size))


class _Child:
    """The chart process, used only from the chart thread (so one request at a time)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.unavailable = False
        self._registered = False

    def draw(self, spec: DigestSpec | StatsSpec) -> Image:
        if self.unavailable:
            return render(spec)
        for attempt in (1, 2):
            try:
                proc = self._started()
                assert proc.stdin is not None and proc.stdout is not None
                _send(proc.stdin, spec)
                ready, _, _ = select.select([proc.stdout], [], [], DRAW_TIMEOUT)
                if not ready:
                    raise TimeoutError(f"no chart within {DRAW_TIMEOUT:.0f} s")
                ok, value = _receive(proc.stdout)
            except (OSError, EOFError, TimeoutError, pickle.UnpicklingError, struct.error) as exc:
                self._stop()
                if attempt == 2 or isinstance(exc, FileNotFoundError):
                    log.warning("chart process failed (%s); drawing in-process from now on", exc)
                    self.unavailable = True
                    return render(spec)
                continue
            if not ok:
                raise RuntimeError(f"chart not drawn: {value}")
            return value  # type: ignore[no-any-return]
        raise AssertionError("unreachable")  # pragma: no cover

    def _started(self) -> subprocess.Popen[bytes]:
        if self.proc is not None and self.proc.poll() is None:
            return self.proc
        root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH")))))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.charts"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
            bufsize=0, close_fds=True)
        if not self._registered:
            atexit.register(self.close)
            self._registered = True
        return self.proc

    def close(self) -> None:
        """End the child at exit: it leaves when its stdin closes; killed if it does not within 2 s."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


_CHILD = _Child()


def _serve() -> None:
    """The chart process: read specs from stdin, write (ok, Image or error) to stdout, until EOF."""
    inbox, outbox = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing printed may corrupt the protocol
    while True:
        try:
            spec = _receive(inbox)
        except EOFError:
            return
        try:
            reply: tuple[bool, Any] = (True, render(spec))
        except Exception as exc:
            reply = (False, f"{type(exc).__name__}: {exc}")
        _send(outbox, reply)


# -------------------------------------------------------------------- drawing


def render(spec: DigestSpec | StatsSpec) -> Image:
    """Draw one chart synchronously: in the chart process, or on the chart thread as a fallback."""
    if isinstance(spec, DigestSpec):
        return _digest_png(spec)
    return _stats_png(spec)


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


def _digest_png(spec: DigestSpec) -> Image:
    fig = _figure(figsize=(8.4, 3.4))
    cov_ax, day_ax = fig.subplots(1, 2)
    topics = list(Topic)
    labels = [t.value for t in topics]
    this_week = [100 * spec.coverage.get(t, 0.0) for t in topics]
    positions = list(range(len(topics)))
    cov_ax.barh(positions, this_week, color=BAR, label="this week")
    for y, topic, value in zip(positions, topics, this_week, strict=True):
        has_data = topic in spec.coverage
        cov_ax.text(value + 1.5 if has_data else 1.5, y, f"{value:.0f}%" if has_data else "no answers",
                    va="center", fontsize=8, color=INK if has_data else MUTED)
    if spec.four_week:
        marked = [(p, 100 * spec.four_week[t]) for p, t in zip(positions, topics, strict=True)
                  if t in spec.four_week]
        cov_ax.scatter([v for _, v in marked], [p for p, _ in marked], color=INK, marker="|", s=260,
                       linewidths=2, label="4-week avg", zorder=3)
        cov_ax.legend(fontsize=8, frameon=False, loc="lower right")
    cov_ax.set_yticks(list(positions), labels)
    cov_ax.invert_yaxis()
    cov_ax.set_xlim(0, 100)
    cov_ax.set_title("Key-point coverage by topic (%)", fontsize=10)
    _style(cov_ax)
    day_ax.bar(DAYS, spec.answers_by_day, color=[BAR if n else MUTED for n in spec.answers_by_day])
    day_ax.set_title("Answers by day", fontsize=10)
    day_ax.yaxis.get_major_locator().set_params(integer=True)
    _style(day_ax)
    fig.suptitle(f"Week of {spec.week_start:%d %b %Y} · participation "
                 f"{'–' if spec.participation is None else f'{spec.participation:.0%}'}", color=INK, fontsize=11)
    fig.tight_layout()
    return Image(_png(fig), f"digest-{spec.week_start.isoformat()}.png",
                 "Bar charts: key-point coverage by topic this week, and answers per day")


def _stats_png(spec: StatsSpec) -> Image:
    """Coverage by topic, and the member's weekly coverage over the last eight weeks."""
    fig = _figure(figsize=(8.4, 3.2))
    topic_ax, trend_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    values = [100 * (cov or 0.0) for _, cov in spec.topics]
    topic_ax.barh([t.value for t, _ in spec.topics], values,
                  color=[BAR if cov is not None else MUTED for _, cov in spec.topics])
    topic_ax.invert_yaxis()
    topic_ax.set_xlim(0, 100)
    topic_ax.set_title("Coverage by topic (%)", fontsize=10)
    _style(topic_ax)
    labels = [w.strftime("%d %b") for w, _ in spec.weekly]
    points = [(i, 100 * v) for i, (_, v) in enumerate(spec.weekly) if v is not None]
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


if __name__ == "__main__":
    # Serve from the importable module, not `__main__`, so unpickled specs are its classes.
    from bot.charts import _serve as serve

    serve()
