"""What every use case needs, handed in by the composition root (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.clock import Clock
from bot.config import Settings
from bot.content import Bank
from bot.grading.service import GradingService, build_grading
from bot.ports import ChatPort
from bot.store.repo import Store


@dataclass
class Runtime:
    settings: Settings
    store: Store
    bank: Bank
    clock: Clock
    ports: dict[str, ChatPort] = field(default_factory=dict)
    # Called with a group id after that group's subscriptions change, so the scheduler
    # can rebuild that group's jobs (and only those).
    schedule_listeners: list[Callable[[int], None]] = field(default_factory=list)
    # Built from the settings unless the composition root (or a test) hands one in.
    grading: GradingService = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.grading is None:
            self.grading = build_grading(self.settings, lambda: self.clock.now().date())

    def schedule_changed(self, group_id: int) -> None:
        for listener in self.schedule_listeners:
            listener(group_id)

    def port(self, platform: str) -> ChatPort:
        try:
            return self.ports[platform]
        except KeyError:
            raise LookupError(f"no chat adapter is running for platform '{platform}'") from None

    def is_admin(self, user_id: str, platform_admin: bool) -> bool:
        return platform_admin or user_id in self.settings.admins
