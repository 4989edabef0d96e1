"""Settings: a YAML file (MLSD_CONFIG) overridden by environment variables.

Tokens live only in the environment or the config file and are held as
SecretStr, so printing or logging a Settings object never shows them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bot.schedule_spec import parse_time, parse_zone


class ConfigError(Exception):
    """The settings cannot be used; the message says which setting and why."""


class Scoring(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on_time_answer: int = 10
    coverage_max: int = 10
    per_vote: int = 1
    max_votes: int = 5
    late_answer: int = 0
    quiz_correct: int = 2


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    database_url: str = "sqlite:///mlsd.db"
    admins: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    min_answer_chars: int = 40
    scoring: Scoring = Field(default_factory=Scoring)
    content_packs: list[str] = Field(default_factory=list)
    catch_up_grace_minutes: int = 120
    digest_weekday: int = Field(default=0, ge=0, le=6)  # 0 = Monday; a group's own setting wins
    digest_time: str = "09:00"  # local HH:MM in the group's time zone
    log_level: str = "INFO"

    # Grading: `local` (offline, the default) or `llm` (an OpenAI-compatible endpoint).
    grader: Literal["local", "llm"] = "local"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout: float = Field(default=20.0, gt=0, le=120)
    llm_daily_cap: int = Field(default=500, ge=0)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None

    discord_token: SecretStr | None = None
    discord_api_url: str | None = None
    discord_gateway_url: str | None = None
    discord_guild_ids: list[int] = Field(default_factory=list)
    # Minutes of inactivity after the reveal before a question's thread archives (None: never).
    discord_archive_after_reveal_minutes: int | None = 1440

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("digest_time")
    @classmethod
    def _check_digest_time(cls, value: str) -> str:

        parse_time(value)
        return value

    @field_validator("discord_guild_ids", mode="before")
    @classmethod
    def _split_guilds(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [int(v) for v in value.split(",") if v.strip()]
        return value

    @property
    def has_slack(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def has_discord(self) -> bool:
        return self.discord_token is not None


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
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
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
