"""APScheduler in the bot's event loop, driving the core's due work.

The database is the source of truth: jobs only *ask* the core to do what is
due, and the core's claims make every post and reveal happen once however
many times (or from however many processes) it is asked.
"""

from __future__ import annotations

import asyncio
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core import Core

log = logging.getLogger(__name__)

SWEEP_JOB_ID = "mlsd:sweep"


class BotScheduler:
    def __init__(self, core: Core, sweep_seconds: int = 30) -> None:
        self.core = core
        self.sweep_seconds = sweep_seconds
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._lock = asyncio.Lock()

    async def sweep(self) -> None:
        """Do whatever is due; never lets an exception kill the scheduler."""
        async with self._lock:
            try:
                report = await self.core.run_due()
            except Exception:
                log.exception("scheduled sweep failed; it runs again in %ss", self.sweep_seconds)
                return
        if report.posted or report.revealed or report.skipped or report.failed:
            log.info("sweep: posted=%s revealed=%s skipped=%s failed=%s",
                     report.posted, report.revealed, report.skipped, report.failed)

    async def start(self) -> None:
        await self.sweep()  # catch up at once after downtime
        self.scheduler.add_job(self.sweep, "interval", seconds=self.sweep_seconds, id=SWEEP_JOB_ID,
                               replace_existing=True, coalesce=True, max_instances=1)
        self.scheduler.start()

    async def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)
        async with self._lock:  # let an in-flight sweep finish
            pass

    def schedule_changed(self) -> None:
        """A subscription changed. The sweep reads subscriptions from the database each
        time, so the next sweep (at most `sweep_seconds` away) already sees it."""
        log.debug("subscriptions changed; next sweep picks it up")
