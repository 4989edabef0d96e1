"""Settings: a YAML file (MLSD_CONFIG) overridden by environment variables.

Tokens live only in the environment or the config file and are held as
`Secret`, so printing or logging a Settings object never shows them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from bot.schedule_spec import parse_time, parse_zone
from bot.validation import Invalid, explain


class ConfigError(Exception):
    """The settings cannot be used; the message says which setting and why."""


class Secret:
    """A token or key: shown masked in any repr or log line; `get_secret_value()` is for the
    one place that hands it to a platform."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class Scoring(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    on_time_answer: int = 10
    coverage_max: int = 10
    per_vote: int = 1
    max_votes: int = 5
    late_answer: int = 0
    quiz_correct: int = 2


_SECRETS = ("llm_api_key", "slack_bot_token", "slack_signing_secret", "slack_app_token", "discord_token")


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every setting with its default. Built by `load_settings` (which checks types and ranges)
    or directly by tests and the demo, where a token may be given as a plain string."""

    database_url: str = "sqlite:///mlsd.db"
    admins: list[str] = msgspec.field(default_factory=list)
    timezone: str = "UTC"
    min_answer_chars: int = 40
    scoring: Scoring = msgspec.field(default_factory=Scoring)
    content_packs: list[str] = msgspec.field(default_factory=list)
    catch_up_grace_minutes: int = 120
    digest_weekday: Annotated[int, msgspec.Meta(ge=0, le=6)] = 0  # 0 = Monday; a group's own setting wins
    digest_time: str = "09:00"  # local HH:MM in the group's time zone
    log_level: str = "INFO"

    # Grading: `local` (offline, the default) or `llm` (an OpenAI-compatible endpoint).
    grader: Literal["local", "llm"] = "local"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: Secret | None = None
    llm_timeout: Annotated[float, msgspec.Meta(gt=0, le=120)] = 20.0
    llm_daily_cap: Annotated[int, msgspec.Meta(ge=0)] = 500

    slack_bot_token: Secret | None = None
    slack_signing_secret: Secret | None = None
    slack_app_token: Secret | None = None
    slack_api_url: str | None = None

    discord_token: Secret | None = None
    discord_api_url: str | None = None
    discord_gateway_url: str | None = None
    discord_guild_ids: list[int] = msgspec.field(default_factory=list)
    # Minutes of inactivity after the reveal before a question's thread archives (None: never).
    discord_archive_after_reveal_minutes: int | None = 1440

    def __post_init__(self) -> None:
        for name in _SECRETS:
            value = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, Secret(value))
        try:
            parse_time(self.digest_time)
        except ValueError as exc:
            raise ValueError(f"digest_time: {exc}") from None

    @property
    def has_slack(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def has_discord(self) -> bool:
        return self.discord_token is not None


def _as_secret(kind: type, value: Any) -> Any:
    """msgspec's hook for the one type it does not know: a token read as a string."""
    if kind is Secret and isinstance(value, str):
        return Secret(value)
    raise NotImplementedError


def _describe(problem: Invalid) -> str:
    if problem.kind == "unknown":
        return f"unknown setting '{problem.where}'"
    if problem.kind == "enum" and problem.where == "grader":
        return f"grader: unknown grader {problem.value}: use local or llm"
    return f"{problem.where}: {problem.plain}" if problem.where else problem.plain


def _split(value: Any, item: type = str) -> Any:
    """A comma-separated list as one string (how an environment variable carries it)."""
    if isinstance(value, str):
        return [item(v.strip()) for v in value.split(",") if v.strip()]
    return value


ENV_NAMES: dict[str, str] = {
    "MLSD_DATABASE_URL": "database_url",
    "MLSD_ADMINS": "admins",
    "MLSD_TIMEZONE": "timezone",
    "MLSD_LOG_LEVEL": "log_level",
    "SLACK_BOT_TOKEN": "slack_bot_token",
    "SLACK_SIGNING_SECRET": "slack_signing_secret",
    "SLACK_APP_TOKEN": "slack_app_token",
    "MLSD_SLACK_API_URL": "slack_api_url",
    "DISCORD_TOKEN": "discord_token",
    "MLSD_DISCORD_API_URL": "discord_api_url",
    "MLSD_DISCORD_GATEWAY_URL": "discord_gateway_url",
    "MLSD_DISCORD_GUILD_IDS": "discord_guild_ids",
    "MLSD_GRADER": "grader",
    "MLSD_LLM_BASE_URL": "llm_base_url",
    "MLSD_LLM_MODEL": "llm_model",
    "MLSD_LLM_API_KEY": "llm_api_key",
    "MLSD_LLM_TIMEOUT": "llm_timeout",
    "MLSD_LLM_DAILY_CAP": "llm_daily_cap",
}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read MLSD_CONFIG (if set) then apply environment overrides."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    config_path = env.get("MLSD_CONFIG")
    if config_path:
        path = Path(config_path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"MLSD_CONFIG={config_path}: cannot read ({exc.strerror})") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"MLSD_CONFIG={config_path}: invalid YAML ({exc})") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"MLSD_CONFIG={config_path}: expected a mapping of settings")
        data.update(loaded)
        # Packs are listed relative to the config file, which is what a reader expects.
        packs = data.get("content_packs") or []
        if isinstance(packs, list):
            data["content_packs"] = [str((path.parent / p).resolve()) for p in packs]
    for name, key in ENV_NAMES.items():
        if env.get(name):
            data[key] = env[name]
    try:
        data["admins"] = _split(data.get("admins", []))
        data["discord_guild_ids"] = _split(data.get("discord_guild_ids", []), int)
    except ValueError as exc:
        raise ConfigError(f"invalid settings: discord_guild_ids: not a list of numbers ({exc})") from exc
    try:
        # strict=False: environment variables are strings ("20" for a number of seconds).
        settings = msgspec.convert(data, Settings, strict=False, dec_hook=_as_secret)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid settings: {_describe(explain(exc))}") from exc
    if settings.grader == "llm" and not (settings.llm_base_url and settings.llm_model):
        raise ConfigError(
            "MLSD_GRADER=llm needs MLSD_LLM_BASE_URL (an OpenAI-compatible endpoint ending in /v1) "
            "and MLSD_LLM_MODEL"
        )
    try:
        parse_zone(settings.timezone)
    except ValueError as exc:
        raise ConfigError(f"timezone: {exc}") from exc
    return settings
