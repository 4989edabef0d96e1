"""Load and validate YAML question banks (the built-in ones and teams' own packs).

Validation reports every problem as `<path>:<line>: <what is wrong>` so a team
editing a pack can jump straight to it. A file with problems is left out whole
(its valid neighbours still load): a half-loaded pack would make question
rotation depend on which lines happened to parse.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import msgspec
import yaml

from bot.domain import TOPIC_SLUGS, Difficulty, KeyPoint, Question, QuizItem, Topic
from bot.validation import Invalid, explain


def _builtin_dir() -> Path:
    """Where the built-in banks are: the installed `mlsd_bank` package (content/ in a checkout)."""
    spec = importlib.util.find_spec("mlsd_bank")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parent.parent / "content"  # a checkout run without installing


BUILTIN_DIR = _builtin_dir()

# Every string of a pack is stripped before it is checked (`_stripped`), so "non-empty"
# means more than whitespace.
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=80)]


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class KeyPointModel(_Strict, kw_only=True):
    text: NonEmpty
    ask: NonEmpty | None = None
    terms: list[NonEmpty] = []
    all_of: list[Annotated[list[NonEmpty], msgspec.Meta(min_length=1)]] = []
    examples: list[NonEmpty] = []
    counter_examples: list[NonEmpty] = []

    def __post_init__(self) -> None:
        if len(self.all_of) == 1:
            raise ValueError(
                "all_of needs two or more synonym groups that must occur together "
                "(one group alone is what 'terms' is for)"
            )


class QuestionModel(_Strict, kw_only=True):
    id: Slug
    topic: Topic
    difficulty: Difficulty
    companies: list[NonEmpty] = []
    prompt: NonEmpty
    sample_answer: NonEmpty
    key_points: list[KeyPointModel]
    follow_ups: list[NonEmpty] = []

    def __post_init__(self) -> None:
        if not 4 <= len(self.key_points) <= 6:
            raise ValueError(f"needs 4 to 6 key points, has {len(self.key_points)}")


class QuizModel(_Strict, kw_only=True):
    id: Slug
    topic: Topic
    prompt: NonEmpty
    choices: list[NonEmpty]
    answer: int
    explanation: NonEmpty
    difficulty: Difficulty = Difficulty.MEDIUM
    readiness: bool = False

    def __post_init__(self) -> None:
        if len(self.choices) != 4:
            raise ValueError(f"needs exactly 4 choices, has {len(self.choices)}")
        if not 0 <= self.answer < len(self.choices):
            raise ValueError(
                f"answer {self.answer} is not a choice index (0-{len(self.choices) - 1})"
            )


def _stripped(value: Any) -> Any:
    """The entry with every string stripped of surrounding whitespace."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return [_stripped(v) for v in value]
    if isinstance(value, dict):
        return {k: _stripped(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class Bank:
    """Every question and quiz item that loaded, indexed for the core."""

    questions: dict[str, Question] = field(default_factory=dict)
    quiz: dict[str, QuizItem] = field(default_factory=dict)

    def questions_for(self, topic: Topic) -> list[Question]:
        return [q for q in self.questions.values() if q.topic == topic]

    def quiz_for(self, topic: Topic) -> list[QuizItem]:
        return [q for q in self.quiz.values() if q.topic == topic]

    def readiness_items(self) -> list[QuizItem]:
        """One item per topic: the one marked `readiness`, else the topic's first."""
        picked: list[QuizItem] = []
        for topic in Topic:
            items = self.quiz_for(topic)
            if not items:
                continue
            marked = [i for i in items if i.readiness]
            picked.append(marked[0] if marked else items[0])
        return picked


# --------------------------------------------------------------------------
# YAML with line numbers


def _node_line(node: yaml.Node | None, loc: Sequence[str | int]) -> int:
    """Line (1-based) of the YAML node at `loc`, or of the deepest ancestor found."""
    line = (node.start_mark.line + 1) if node is not None else 1
    current = node
    for part in loc:
        nxt: yaml.Node | None = None
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    nxt = value
                    break
        elif (
            isinstance(current, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(current.value)
        ):
            nxt = current.value[part]
        if nxt is None:
            break
        current = nxt
        line = current.start_mark.line + 1
    return line


def _problem_field(section: str, problem: Invalid) -> tuple[str | int, ...]:
    """Where in the entry to point: the field at fault, the object missing a field, or (for a
    rule about the whole entry) the field the rule is about."""
    if problem.kind == "missing":
        return problem.loc[:-1]
    if problem.loc:
        return problem.loc
    if section == "quiz":
        return ("choices",) if "choices" in problem.text else ("answer",)
    return ("key_points",)


def _describe(problem: Invalid) -> str:
    where = problem.where
    if problem.kind == "missing":
        return f"missing field '{where}'"
    if problem.kind == "unknown":
        return f"unknown field '{where}'"
    if problem.kind == "enum" and problem.loc and problem.loc[-1] == "topic":
        return f"unknown topic {problem.value}: use one of {', '.join(TOPIC_SLUGS)}"
    if problem.kind == "enum" and problem.loc and problem.loc[-1] == "difficulty":
        return f"unknown difficulty {problem.value}: use easy, medium or hard"
    return f"{where}: {problem.plain}" if where else problem.plain


class YamlLines:
    """Line numbers of a YAML file's entries, composed into a node tree only when asked.

    A bank that loads cleanly never asks, and its node tree (every scalar with its
    marks: about 1.3 MB of the bot's resident memory for the built-in banks) is
    never built; a problem to report builds it once.
    """

    def __init__(self, text: str) -> None:
        self._text: str | None = text
        self._root: yaml.Node | None = None

    def at(self, loc: Sequence[str | int]) -> int:
        """Line (1-based) of the node at `loc`, or of the deepest ancestor found."""
        if self._text is not None:
            self._root = yaml.compose(self._text, Loader=_LOADER)
            self._text = None
        return _node_line(self._root, loc)


@dataclass
class _ParsedFile:
    path: str
    lines: YamlLines | None = None
    # Each entry with its index in its section (its line is `lines.at([section, index])`).
    questions: list[tuple[Question, int]] = field(default_factory=list)
    quiz: list[tuple[QuizItem, int]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, section: str, index: int) -> int:
        return self.lines.at([section, index]) if self.lines is not None else 1


class YamlFileError(Exception):
    """A file that is not readable UTF-8 YAML; `problem` says where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


# libyaml's safe loader when PyYAML was built with it: the same documents and line
# marks, parsed in C, so a start-up reading every built-in bank spends less time and
# leaves fewer Python objects behind.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> tuple[YamlLines, Any]:
    """The file's data and its line numbers, or a YamlFileError a person can act on."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlFileError(Problem(shown, 1, f"cannot read file: {exc.strerror or exc}")) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise YamlFileError(Problem(
            shown, line,
            f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save the file as UTF-8",
        )) from exc
    try:
        return YamlLines(text), yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlFileError(Problem(shown, line, f"invalid YAML: {problem}")) from exc


def _parse_file(path: Path, source: str) -> _ParsedFile:
    shown = str(path)
    result = _ParsedFile(shown)
    try:
        lines, data = read_yaml(path)
    except YamlFileError as exc:
        result.problems.append(exc.problem)
        return result
    result.lines = lines
    if data is None:
        result.problems.append(Problem(shown, 1, "empty file: expected 'questions:' or 'quiz:'"))
        return result
    if not isinstance(data, dict):
        result.problems.append(
            Problem(shown, 1, "expected a mapping with 'questions:' and/or 'quiz:'")
        )
        return result
    unknown = set(data) - {"questions", "quiz"}
    for key in sorted(map(str, unknown)):
        result.problems.append(
            Problem(shown, lines.at([key]), f"unknown top-level key '{key}'")
        )
    if not data.get("questions") and not data.get("quiz") and not unknown:
        result.problems.append(Problem(shown, 1, "no 'questions:' or 'quiz:' entries"))
    for section, model in (("questions", QuestionModel), ("quiz", QuizModel)):
        items = data.get(section) or []
        if not isinstance(items, list):
            result.problems.append(
                Problem(shown, lines.at([section]), f"'{section}' must be a list")
            )
            continue
        for index, raw in enumerate(items):
            if not isinstance(raw, dict):
                result.problems.append(Problem(shown, lines.at([section, index]),
                                               f"{section} entry is not a mapping"))
                continue
            try:
                parsed = msgspec.convert(_stripped(raw), model)
            except msgspec.ValidationError as exc:
                # msgspec stops at an entry's first problem: one line per broken entry.
                problem = explain(exc)
                ident = raw.get("id", f"#{index + 1}")
                line = lines.at([section, index, *_problem_field(section, problem)])
                result.problems.append(Problem(shown, line, f"{ident}: {_describe(problem)}"))
                continue
            if isinstance(parsed, QuestionModel):
                result.questions.append((_to_question(parsed, source), index))
            else:
                result.quiz.append((_to_quiz(parsed, source), index))
    return result


def _to_question(m: QuestionModel, source: str) -> Question:
    return Question(
        id=m.id,
        topic=m.topic,
        difficulty=m.difficulty,
        companies=tuple(m.companies),
        prompt=m.prompt,
        sample_answer=m.sample_answer,
        key_points=tuple(
            KeyPoint(
                text=k.text,
                terms=tuple(k.terms),
                all_of=tuple(tuple(group) for group in k.all_of),
                examples=tuple(k.examples),
                counter_examples=tuple(k.counter_examples),
                ask=k.ask or "",
            )
            for k in m.key_points
        ),
        follow_ups=tuple(m.follow_ups),
        source=source,
    )


def _to_quiz(m: QuizModel, source: str) -> QuizItem:
    return QuizItem(
        id=m.id,
        topic=m.topic,
        prompt=m.prompt,
        choices=tuple(m.choices),
        answer=m.answer,
        explanation=m.explanation,
        difficulty=m.difficulty,
        readiness=m.readiness,
        source=source,
    )


def builtin_files() -> list[Path]:
    return sorted(BUILTIN_DIR.glob("questions/*.yaml")) + sorted(BUILTIN_DIR.glob("quiz/*.yaml"))


def load_bank(
    extra_packs: Iterable[str | Path] = (), *, include_builtin: bool = True
) -> tuple[Bank, list[Problem]]:
    """Load the banks; returns what loaded and every problem found.

    Duplicate ids are problems of the later file; the first definition wins, so
    a custom pack can never silently replace a built-in question.
    """
    files: list[tuple[Path, str]] = []
    if include_builtin:
        files += [(p, "built-in") for p in builtin_files()]
    builtin = {p.resolve() for p in builtin_files()} if include_builtin else set()
    # A built-in file named again as a pack (`content validate content/quiz/data.yaml`) is read once.
    files += [(Path(p), str(p)) for p in extra_packs if Path(p).resolve() not in builtin]
    bank = Bank()
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path, source in files:
        parsed = _parse_file(path, source)
        dupes: list[Problem] = []
        in_file: dict[str, tuple[str, int]] = {}
        entries = [("questions", q, i) for q, i in parsed.questions] + [("quiz", q, i) for q, i in parsed.quiz]
        for section, obj, index in entries:
            if obj.id in seen:
                first = seen[obj.id]
                dupes.append(Problem(parsed.path, parsed.line_of(section, index),
                                     f"duplicate id '{obj.id}' (first in {first})"))
            elif obj.id in in_file:
                first_section, first_index = in_file[obj.id]
                first = f"line {parsed.line_of(first_section, first_index)}"
                dupes.append(Problem(parsed.path, parsed.line_of(section, index),
                                     f"duplicate id '{obj.id}' (first at {first})"))
            else:
                in_file[obj.id] = (section, index)
        file_problems = parsed.problems + dupes
        problems.extend(file_problems)
        if file_problems:
            continue
        for q, _ in parsed.questions:
            seen[q.id] = parsed.path
            bank.questions[q.id] = q
        for item, _ in parsed.quiz:
            seen[item.id] = parsed.path
            bank.quiz[item.id] = item
    return bank, sorted(problems, key=lambda p: (p.path, p.line))


class EmptyBank(Exception):
    """No daily questions could be loaded: the bot would run an empty schedule, so it must not start."""


def require_questions(bank: Bank, problems: Sequence[Problem]) -> None:
    """Stop with the reason when nothing loaded, rather than skipping every post silently."""
    if bank.questions:
        return
    where = BUILTIN_DIR / "questions"
    if not any(where.glob("*.yaml")):
        reason = f"the built-in question banks are missing (no YAML files in {where}); reinstall mlsd-bot"
    elif problems:
        reason = f"every question file has problems, first: {problems[0]}"
    else:
        reason = f"the question banks in {where} hold no questions"
    raise EmptyBank(f"no questions to post: {reason}")
