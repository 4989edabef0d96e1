"""What every use case needs, handed in by the composition root (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.clock import Clock
from bot.config import Settings
from bot.content import Bank
from bot.ports import ChatPort
from bot.store.repo import Store


@dataclass
class Runtime:
    settings: Settings
    store: Store
    bank: Bank
    clock: Clock
    ports: dict[str, ChatPort] = field(default_factory=dict)
    # Called after a subscription changes, so the scheduler can rebuild its jobs.
    schedule_listeners: list[Callable[[], None]] = field(default_factory=list)

    def schedule_changed(self) -> None:
        for listener in self.schedule_listeners:
            listener()

    def port(self, platform: str) -> ChatPort:
        try:
            return self.ports[platform]
        except KeyError:
            raise LookupError(f"no chat adapter is running for platform '{platform}'") from None

    def is_admin(self, user_id: str, platform_admin: bool) -> bool:
        return platform_admin or user_id in self.settings.admins
