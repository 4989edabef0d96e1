"""The `mlsd-bot` command and the one composition root.

This is the only module of `bot/` allowed to import `adapters` and `scheduler`:
it builds settings, store, core, scheduler and adapters and hands each what it
needs. Nothing else creates clients or reads the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import logging
import os
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from bot.clock import Clock, FileClock, SystemClock
from bot.config import ConfigError, Settings, load_settings
from bot.content import Bank, EmptyBank, load_bank, require_questions
from bot.core import Core
from bot.domain import Difficulty, Topic
from bot.ports import AdapterError, PlatformAdapter
from bot.runtime import Runtime
from bot.store.repo import Store

log = logging.getLogger("mlsd")


def _configured_packs() -> list[str] | None:
    """The content packs MLSD_CONFIG names; None (after saying why) if the config is broken."""
    try:
        return load_settings().content_packs
    except ConfigError as exc:
        print(f"config: {exc}", file=sys.stderr)
        return None


def _print_quiz_bias(bank: Bank, packs: Sequence[str]) -> None:
    """Warnings, not problems: a biased quiz still loads, but its author should know."""
    from bot.quiz_bias import pack_warnings

    sources = ["built-in", *packs]
    for source in sources:
        items = [i for i in bank.quiz.values() if i.source == source]
        for warning in pack_warnings(items):
            where = f"{warning.item_id}: " if warning.item_id else ""
            print(f"{source}: warning: {where}{warning.message}")


def _content_validate(args: argparse.Namespace) -> int:
    packs = list(args.paths) or _configured_packs()
    if packs is None:
        return 2
    bank, problems = load_bank(packs)
    for problem in problems:
        print(problem)
    _print_quiz_bias(bank, packs)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print(f"ok: {len(bank.questions)} questions and {len(bank.quiz)} quiz items "
          f"({'built-in' if not packs else 'built-in + ' + ', '.join(packs)})")
    return 0


def _content_grade(args: argparse.Namespace) -> int:
    from bot.grading.answers_file import AnswersFileError, grade_entries, print_json, print_text, read_entries
    from bot.grading.service import build_grading

    packs = _configured_packs()
    if packs is None:
        return 2
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"config: {exc}", file=sys.stderr)
        return 2
    if args.grader:
        settings = msgspec.structs.replace(settings, grader=args.grader)
        if args.grader == "llm" and not (settings.llm_base_url and settings.llm_model):
            print("--grader llm needs MLSD_LLM_BASE_URL and MLSD_LLM_MODEL", file=sys.stderr)
            return 2
    bank, problems = load_bank(packs)
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)
    try:
        entries = read_entries(args.file, bank)
    except AnswersFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    grading = build_grading(settings, lambda: datetime.now(UTC).date())
    gradings = asyncio.run(grade_entries(entries, grading))
    (print_json if args.json else print_text)(entries, gradings, sys.stdout)
    return 0


def _content_list(args: argparse.Namespace) -> int:
    packs = _configured_packs()
    if packs is None:
        return 2
    bank, problems = load_bank(packs)
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)
    topic = Topic(args.topic) if args.topic else None
    for q in bank.questions.values():
        if topic is None or q.topic == topic:
            print(f"{q.id:<52} {q.topic.value:<16} {q.difficulty.value:<7} {q.source}")
    print()
    print(f"{'topic':<16} {'easy':>5} {'medium':>7} {'hard':>5} {'total':>6} {'quiz':>5}")
    for t in Topic:
        if topic is not None and t != topic:
            continue
        spread = Counter(q.difficulty for q in bank.questions_for(t))
        print(f"{t.value:<16} {spread[Difficulty.EASY]:>5} {spread[Difficulty.MEDIUM]:>7} "
              f"{spread[Difficulty.HARD]:>5} {sum(spread.values()):>6} {len(bank.quiz_for(t)):>5}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from adapters.console.demo import run_demo

    if not 1 <= args.weeks <= 8:
        print("mlsd-bot demo: --weeks must be between 1 and 8", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run_demo(weeks=args.weeks, charts_dir=args.charts_dir))
    except EmptyBank as exc:
        print(f"mlsd-bot demo: {exc}", file=sys.stderr)
        return 2


def build_core(settings: Settings) -> Core:
    bank, problems = load_bank(settings.content_packs)
    for problem in problems:
        log.error("content pack problem (that file is not loaded): %s", problem)
    require_questions(bank, problems)
    store = Store.open(settings.database_url)
    return Core(Runtime(settings=settings, store=store, bank=bank, clock=_clock()))


def _clock() -> Clock:
    """The system clock, or (test hook, see bot.clock.FileClock) the time in $MLSD_CLOCK_FILE."""
    path = os.environ.get("MLSD_CLOCK_FILE")
    if path:
        log.warning("MLSD_CLOCK_FILE is set: the bot's time is read from %s (a test hook)", path)
        return FileClock(path)
    return SystemClock()


def _run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"mlsd-bot: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every job run at INFO; our jobs log what they did themselves.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLogger().level))
    unknown = [p for p in args.platform if p not in ("slack", "discord")]
    if unknown:
        print(f"mlsd-bot: unknown platform {unknown[0]!r}: use slack or discord.", file=sys.stderr)
        return 2
    wanted = args.platform or [p for p, ok in (("slack", settings.has_slack),
                                                ("discord", settings.has_discord)) if ok]
    if not wanted:
        print("mlsd-bot: no platform credentials found. Set SLACK_BOT_TOKEN (+ SLACK_SIGNING_SECRET "
              "or SLACK_APP_TOKEN) for Slack, or DISCORD_TOKEN for Discord. "
              "Try `mlsd-bot demo` to see the bot without credentials.", file=sys.stderr)
        return 2
    missing = [p for p in wanted if not getattr(settings, f"has_{p}")]
    if missing:
        print(f"mlsd-bot: no credentials for {', '.join(missing)}.", file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(settings, wanted, http_port=args.port if args.http else None))
    except (AdapterError, EmptyBank) as exc:
        print(f"mlsd-bot: {exc}", file=sys.stderr)
        return 2


async def _until_stopped(stop: asyncio.Event, adapters: Sequence[PlatformAdapter]) -> int:
    """Wait for SIGTERM/SIGINT (exit status 0) or for an adapter whose connection died for
    good (its optional `died()` returns why; exit status 1, so a supervisor restarts the bot
    rather than leaving it running deaf)."""
    waits = [asyncio.ensure_future(stop.wait())]
    waits += [asyncio.ensure_future(died()) for a in adapters if (died := getattr(a, "died", None))]
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    deaths = [task.result() for task in waits[1:] if task in done]
    if deaths:
        log.critical("mlsd-bot: stopping with exit status 1: %s", "; ".join(deaths))
        return 1
    return 0


async def serve(settings: Settings, platforms: Sequence[str], http_port: int | None = None) -> int:
    """Run the adapters and the scheduler until SIGTERM/SIGINT, then stop in order."""
    from scheduler.service import BotScheduler

    core = build_core(settings)
    adapters: list[PlatformAdapter] = []
    # MLSD_SWEEP_SECONDS (test hook): how often the safety sweep runs (default 5 minutes).
    sweep = os.environ.get("MLSD_SWEEP_SECONDS")
    scheduler = BotScheduler(core, sweep_seconds=float(sweep)) if sweep else BotScheduler(core)
    core.rt.schedule_listeners.append(scheduler.schedule_changed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    started = False
    status = 0
    try:
        if "slack" in platforms:
            from adapters.slack.app import create_adapter as create_slack

            adapters.append(create_slack(settings, core, http_port=http_port))
        if "discord" in platforms:
            from adapters.discord.client import create_adapter as create_discord

            adapters.append(create_discord(settings, core))
        for adapter in adapters:
            core.rt.ports[adapter.port.platform] = adapter.port
        for adapter in adapters:
            await adapter.start()
        await scheduler.start()
        # Start-up's objects (bank, models, SDK modules) live as long as the process: keep
        # them out of the garbage collector's full passes, which pause every thread. What
        # start-up only needed for a while (YAML, validation, migrations' checks) is freed
        # first, and the C heap hands its free pages back to the system.
        gc.collect()
        gc.freeze()
        _return_free_memory()
        started = True
        log.info("mlsd-bot running on %s", ", ".join(platforms))
        status = await _until_stopped(stop, adapters)
        log.info("shutting down: no new events, finishing in-flight work")
    finally:
        if started:
            await scheduler.shutdown()
        for adapter in adapters:
            await adapter.stop()
        core.rt.store.close()
    return status


def _return_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim; elsewhere nothing).

    Start-up frees a few megabytes in small pieces (parsed YAML, validation, SQL
    compilation) that malloc otherwise keeps mapped for the life of the process.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def _slack_manifest(args: argparse.Namespace) -> int:
    from adapters.slack.manifest import manifest_yaml

    print(manifest_yaml(args.name, args.request_url), end="")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlsd-bot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="simulate a week of practice in one channel, no credentials")
    demo.add_argument("--weeks", type=int, default=1, help="how many weeks to simulate (1-8)")
    demo.add_argument("--charts-dir", type=Path, default=None,
                      help="where to save the chart PNGs (default: a new temporary folder)")
    demo.set_defaults(func=_demo)

    run = sub.add_parser("run", help="run the bot on every platform that has credentials")
    run.add_argument("platform", nargs="*", metavar="{slack,discord}",
                     help="which platforms (default: every one with credentials)")
    run.add_argument("--http", action="store_true",
                     help="Slack: receive events over HTTP instead of Socket Mode")
    run.add_argument("--port", type=int, default=3000, help="Slack HTTP mode port (default 3000)")
    run.set_defaults(func=_run)

    content = sub.add_parser("content", help="check and list question banks")
    content_sub = content.add_subparsers(dest="content_command", required=True)
    validate = content_sub.add_parser("validate", help="validate built-in banks plus extra packs")
    validate.add_argument("paths", nargs="*", help="extra pack files (default: MLSD_CONFIG's packs)")
    validate.set_defaults(func=_content_validate)
    grade = content_sub.add_parser("grade", help="grade a YAML list of {question_id, text} answers")
    grade.add_argument("file", type=Path, help="YAML file: a list of {question_id, text}")
    grade.add_argument("--grader", choices=["local", "llm"], help="default: MLSD_GRADER (local)")
    grade.add_argument("--json", action="store_true", help="one JSON object per line, in input order")
    grade.set_defaults(func=_content_grade)
    listing = content_sub.add_parser("list", help="list loaded questions and counts")
    listing.add_argument("--topic", choices=[t.value for t in Topic])
    listing.set_defaults(func=_content_list)

    slack = sub.add_parser("slack", help="Slack helpers")
    slack_sub = slack.add_subparsers(dest="slack_command", required=True)
    slack_manifest = slack_sub.add_parser("manifest", help="print the Slack app manifest (YAML)")
    slack_manifest.add_argument("--request-url", metavar="URL",
                                help="HTTP mode: https://<host>/slack/events (default: Socket Mode)")
    slack_manifest.add_argument("--name", default="mlsd-bot", help="the app and bot user name")
    slack_manifest.set_defaults(func=_slack_manifest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
