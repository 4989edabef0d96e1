"""The Slack app manifest: paste it at api.slack.com/apps -> Create New App -> From a manifest.

Scopes are the ones the bot really uses, each for a reason:

| scope | why |
| --- | --- |
| `commands` | the `/mlsd` command |
| `chat:write` | daily posts, reveals, replies, ephemeral answers |
| `reactions:write` | the ✅ / ⏳ on a recorded answer |
| `reactions:read` | `reaction_added` / `reaction_removed`: peer votes |
| `channels:history`, `groups:history` | thread replies (answers) in public / private channels |
| `users:read` | `users.info`: is the caller a workspace admin or owner? |
| `files:write` | digest and stats charts (`files_upload_v2`) |
| `im:write` | a private chart goes to the member's DM with the bot |
"""

from __future__ import annotations

from typing import Any

import yaml

BOT_SCOPES = (
    "commands",
    "chat:write",
    "reactions:write",
    "reactions:read",
    "channels:history",
    "groups:history",
    "users:read",
    "files:write",
    "im:write",
)
BOT_EVENTS = (
    "app_home_opened",
    "message.channels",
    "message.groups",
    "reaction_added",
    "reaction_removed",
)
COMMAND = "/mlsd"


def manifest(name: str = "mlsd-bot", request_url: str | None = None) -> dict[str, Any]:
    """Socket Mode by default; with `request_url` (https://host/slack/events), HTTP mode."""
    command: dict[str, Any] = {
        "command": COMMAND,
        "description": "ML system design practice: quiz, leaderboard, stats, subscribe",
        "usage_hint": "help | quiz [topic] | leaderboard | stats | subscribe <topic>",
        "should_escape": False,
    }
    events: dict[str, Any] = {"bot_events": list(BOT_EVENTS)}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if request_url:
        command["url"] = request_url
        events["request_url"] = request_url
        interactivity["request_url"] = request_url
    return {
        "display_information": {
            "name": name,
            "description": "Daily ML system design interview practice in your team's channel.",
            "background_color": "#1d3557",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                # The Messages tab holds the private charts `/mlsd stats` sends.
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": request_url is None,
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(name: str = "mlsd-bot", request_url: str | None = None) -> str:
    header = ("# Slack app manifest for mlsd-bot: api.slack.com/apps -> Create New App -> From a manifest.\n"
              + ("# HTTP mode: Slack sends events, commands and interactivity to the URL below.\n" if request_url
                 else "# Socket Mode: also create an app-level token with connections:write (SLACK_APP_TOKEN).\n"))
    return header + yaml.safe_dump(manifest(name, request_url), sort_keys=False, allow_unicode=True)
