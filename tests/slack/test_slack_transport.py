"""How Slack reaches the bot: signed HTTP requests, Socket Mode, start-up, and the real process."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from adapters.slack.app import SlackSetupError, create_adapter
from adapters.slack.manifest import BOT_EVENTS, BOT_SCOPES, manifest_yaml
from bot.cli import main
from tests.slack.conftest import ADMIN, CHANNEL, SlackWorld, build_core, slack_settings
from tests.slack.standin import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, SlackStandIn

MEMBER = "UMEMBER1"


# ------------------------------------------------------------ signatures


async def test_a_request_with_a_bad_signature_is_refused(slack: SlackWorld):
    body, ctype = slack.standin.encode_form(slack.standin.command_form("help", user=MEMBER, channel=CHANNEL))
    status, _ = await slack.standin.post(slack.url, body, ctype, secret="not-the-signing-secret")
    assert status == 401
    await slack.settle()
    assert slack.standin.calls_to("response_url") == []


async def test_a_stale_timestamp_is_refused_even_when_correctly_signed(slack: SlackWorld):
    body, ctype = slack.standin.encode_event(slack.standin.event_body(
        {"type": "app_home_opened", "user": MEMBER, "tab": "home"}))
    status, _ = await slack.standin.post(slack.url, body, ctype, timestamp=int(time.time()) - 6 * 60)
    assert status == 401
    await slack.settle()
    assert slack.standin.calls_to("views.publish") == []


async def test_an_unsigned_request_is_refused(slack: SlackWorld):
    async with aiohttp.ClientSession() as session, session.post(slack.url, data=b"command=/mlsd&text=help") as r:
        assert r.status == 401


async def test_slacks_url_verification_is_answered(slack: SlackWorld):
    body, ctype = slack.standin.encode_event({"type": "url_verification", "challenge": "c-123", "token": "t"})
    status, text = await slack.standin.post(slack.url, body, ctype)
    assert status == 200 and "c-123" in text


async def test_a_health_endpoint_for_orchestrators(slack: SlackWorld):
    async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{slack.adapter.http_port}/healthz") as r:
        assert r.status == 200


# ------------------------------------------------------------ Socket Mode


async def test_socket_mode_end_to_end(standin: SlackStandIn, tmp_path: Path, clock, caplog):
    caplog.set_level(logging.DEBUG)
    settings = slack_settings(standin, tmp_path / "mlsd.db", slack_app_token=APP_TOKEN)
    core = build_core(settings, clock)
    adapter = create_adapter(settings, core)  # no port: Socket Mode
    core.rt.ports["slack"] = adapter.port
    await adapter.start()
    try:
        [opened] = standin.calls_to("apps.connections.open")
        assert opened.token == APP_TOKEN
        await standin.socket_connected()

        form = standin.command_form("subscribe serving at 09:00", user=ADMIN, channel=CHANNEL)
        envelope = await standin.send_envelope("slash_commands", form)
        ack = await standin.wait_ack(envelope)  # Slack allows 3 seconds
        assert ack["envelope_id"] == envelope
        [post] = await standin.wait_for("chat.postMessage")
        assert "Subscribed: Serving architecture" in post.all_text

        event = standin.event_body({"type": "app_home_opened", "user": ADMIN, "channel": "D1", "tab": "home"},
                                   event_id="Ev0SOCKET")
        await standin.wait_ack(await standin.send_envelope("events_api", event))
        await standin.wait_for("views.publish")
        await adapter.idle()
        # the same event redelivered (retry_attempt 1): acked, and nothing else happens
        before = len(standin.calls)
        await standin.wait_ack(await standin.send_envelope("events_api", event, retry_attempt=1,
                                                           retry_reason="timeout"))
        await adapter.idle()
        assert len(standin.calls) == before
    finally:
        await adapter.stop()
        core.rt.store.close()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged  # debug logging was on
    for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET):
        assert secret not in logged


# ------------------------------------------------------------------ start-up


async def test_start_up_fails_clearly_on_a_rejected_bot_token(standin: SlackStandIn, tmp_path: Path, clock):
    settings = slack_settings(standin, tmp_path / "mlsd.db", slack_bot_token="xoxb-wrong")
    core = build_core(settings, clock)
    adapter = create_adapter(settings, core, http_port=0, http_host="127.0.0.1")
    with pytest.raises(SlackSetupError, match=r"SLACK_BOT_TOKEN.*invalid_auth"):
        await adapter.start()
    await adapter.stop()  # safe on an adapter that never started
    core.rt.store.close()


async def test_start_up_fails_clearly_on_a_rejected_app_token(standin: SlackStandIn, tmp_path: Path, clock):
    settings = slack_settings(standin, tmp_path / "mlsd.db", slack_app_token="xapp-wrong")
    core = build_core(settings, clock)
    adapter = create_adapter(settings, core)
    with pytest.raises(SlackSetupError, match=r"SLACK_APP_TOKEN.*invalid_auth"):
        await adapter.start()
    core.rt.store.close()


def test_missing_credentials_are_named(tmp_path: Path, clock):
    standin = SlackStandIn()
    core = build_core(slack_settings(standin, tmp_path / "a.db"), clock)
    with pytest.raises(SlackSetupError, match="SLACK_APP_TOKEN"):
        create_adapter(slack_settings(standin, tmp_path / "a.db"), core)
    with pytest.raises(SlackSetupError, match="SLACK_SIGNING_SECRET"):
        create_adapter(slack_settings(standin, tmp_path / "a.db", slack_signing_secret=None), core, http_port=0)
    core.rt.store.close()


# ------------------------------------------------------------------ manifest


def test_the_manifest_asks_for_what_the_bot_uses():
    data = yaml.safe_load(manifest_yaml())
    assert data["features"]["slash_commands"][0]["command"] == "/mlsd"
    assert data["features"]["app_home"]["home_tab_enabled"] is True
    assert data["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)
    assert data["settings"]["event_subscriptions"]["bot_events"] == list(BOT_EVENTS)
    assert data["settings"]["interactivity"]["is_enabled"] is True
    assert data["settings"]["socket_mode_enabled"] is True
    http = yaml.safe_load(manifest_yaml(request_url="https://bot.example.com/slack/events"))
    assert http["settings"]["socket_mode_enabled"] is False
    assert http["settings"]["event_subscriptions"]["request_url"] == "https://bot.example.com/slack/events"
    assert http["features"]["slash_commands"][0]["url"] == "https://bot.example.com/slack/events"


def test_mlsd_bot_slack_manifest_prints_it(capsys):
    assert main(["slack", "manifest"]) == 0
    out = capsys.readouterr().out
    assert yaml.safe_load(out)["settings"]["socket_mode_enabled"] is True
    assert main(["slack", "manifest", "--request-url", "https://h.example/slack/events"]) == 0
    assert "https://h.example/slack/events" in capsys.readouterr().out


# ---------------------------------------------------------- the real process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wait_healthy(url: str, proc: asyncio.subprocess.Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise AssertionError(f"mlsd-bot exited with {proc.returncode}")
            try:
                async with session.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("mlsd-bot never became healthy")


async def test_the_real_process_in_http_mode(standin: SlackStandIn, tmp_path: Path):
    port = _free_port()
    exe = shutil.which("mlsd-bot")
    cmd = [exe] if exe else [sys.executable, "-m", "bot.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MLSD_", "DISCORD_"))}
    env.update({
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "MLSD_SLACK_API_URL": standin.api_url.rstrip("/"),  # the adapter adds the slash slack-sdk needs
        "MLSD_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}", "MLSD_ADMINS": ADMIN,
    })
    log_path = tmp_path / "bot.log"
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(*cmd, "run", "slack", "--http", "--port", str(port),
                                                    env=env, stdout=log_file, stderr=asyncio.subprocess.STDOUT)
        try:
            await _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
            url = f"http://127.0.0.1:{port}/slack/events"
            assert [c.method for c in standin.calls][:1] == ["auth.test"]

            status, _ = await standin.post_command(url, "help", user=MEMBER, channel=CHANNEL)
            assert status == 200
            [answer] = await standin.wait_for("response_url")
            assert answer.args["response_type"] == "ephemeral" and "/mlsd quiz" in answer.all_text

            status, _ = await standin.post_command(url, "subscribe serving at 09:00", user=ADMIN, channel=CHANNEL)
            assert status == 200
            [post] = await standin.wait_for("chat.postMessage")
            assert post.args["channel"] == CHANNEL and "Subscribed: Serving architecture" in post.all_text

            status, _ = await standin.post_command(url, "subscribe data", user=MEMBER, channel=CHANNEL)
            await standin.wait_for("response_url", count=2)
            assert "Only admins" in standin.calls_to("response_url")[-1].all_text
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), timeout=30)
    output = log_path.read_text()
    assert code == 0, output
    for secret in (BOT_TOKEN, SIGNING_SECRET):
        assert secret not in output


async def test_a_busy_port_is_a_clear_start_up_error(standin: SlackStandIn, tmp_path: Path, clock):
    settings = slack_settings(standin, tmp_path / "mlsd.db")
    core = build_core(settings, clock)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        adapter = create_adapter(settings, core, http_port=taken.getsockname()[1], http_host="127.0.0.1")
        with pytest.raises(SlackSetupError, match=r"cannot listen on 127\.0\.0\.1"):
            await adapter.start()
    core.rt.store.close()


async def test_an_event_nobody_handles_is_acknowledged_and_ignored(slack: SlackWorld):
    status, _ = await slack.standin.post_event(slack.url, {"type": "app_mention", "user": MEMBER, "text": "<@U1> hi",
                                                           "channel": CHANNEL, "ts": "1.2"})
    assert status == 200
    await slack.settle()
    assert [c.method for c in slack.standin.calls] == ["auth.test", "auth.test"]
