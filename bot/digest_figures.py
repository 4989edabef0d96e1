"""The weekly digest's figures, as `DigestData` for rendering.

The figures are read and computed in one unit of work off the event loop
(`bot.store.digest_figures`, a fixed number of queries however many members
the channel has); this module only shapes them into what `render.digest` shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.domain import ChannelRef
from bot.standings import DigestData, MissedPoint
from bot.store import digest_figures as figures_store
from bot.store.ledger import week_start

if TYPE_CHECKING:
    from datetime import date

    from bot.standings import Standings


async def compute_digest(standings: Standings, channel: ChannelRef, week_of: date | None) -> DigestData:
    rt = standings.rt
    now = rt.clock.now()
    found = await rt.store.run(figures_store.for_channel, rt.bank, channel, week_of, now)
    if found is None:
        return DigestData(week_start(now, ZoneInfo("UTC")), 0, None, (), ())
    start_day, f = found
    return DigestData(
        week_start=start_day,
        posts=f.posts,
        participation=f.participation,
        top=f.top,
        streak_leaders=tuple(f.streaks[:3]),
        coverage_by_topic=f.coverage,
        weakest_topic=f.weakest,
        answers=f.answers,
        answers_by_day=f.answers_by_day,
        participation_prev=f.participation_prev,
        coverage_4wk=f.coverage_4wk,
        personal_bests=f.personal_bests,
        most_missed=tuple(MissedPoint(m.question_id, m.text, m.missed, m.answers) for m in f.most_missed),
        next_on_weakest=f.next_on_weakest,
    )
