"""Every prepared example renders through strict chat templates of real model families (Mistral, Gemma 3), which
raise unless roles alternate user/assistant after the system message: the shipped sample server, the shared real
exports (when present), train/val/test and dpo.jsonl, and what the training side's truncation makes of them."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import jinja2
import pytest
from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from core.config.app_config import DatasetConfig
from core.conversation.turns import Persona, Place
from core.dataset.pipeline import prepare_dataset
from core.ingest.importer import import_paths
from core.prompting.builder import build_example, build_prompt
from tests import conftest
from tests.test_prompt_builder import ALICE, BOB, CAROL, PLACE, turn

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "fixtures" / "chat_templates"
STRICT = ("mistral-7b-instruct-v0.2", "gemma-3-it")
SAMPLE_EXPORT = ROOT / "assets" / "sample_server" / "export"
SPLIT_FILES = ("train.jsonl", "val.jsonl", "test.jsonl")


def raise_exception(message: str):
    raise TemplateError(message)


@functools.cache
def template(name: str) -> jinja2.Template:
    """A fixture template compiled the way transformers compiles chat templates (sandboxed, raise_exception)."""
    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    environment.globals["raise_exception"] = raise_exception
    return environment.from_string((TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8"))


def render_strict(messages: list[dict], *, generation: bool) -> list[str]:
    """The messages rendered by every strict template; raises TemplateError where a template refuses them."""
    return [template(name).render(messages=messages, bos_token="<s>", eos_token="</s>",
                                  add_generation_prompt=generation) for name in STRICT]


def shape_error(messages: list[dict], last: str) -> str | None:
    """The rule, checked independently of the code: system, then user/assistant alternating from user, ending with
    ``last`` (the templates check alternation; none checks what a prompt ends with)."""
    roles = [message["role"] for message in messages]
    if roles[:1] != ["system"] or len(roles) < 2:
        return f"expected a system message and at least one turn, got {roles}"
    for number, role in enumerate(roles[1:]):
        if role != ("user", "assistant")[number % 2]:
            return f"roles do not alternate from user: {roles}"
    if roles[-1] != last:
        return f"ends with {roles[-1]}, not {last}: {roles}"
    if any(not message["content"].strip() for message in messages):
        return "an empty message"
    return None


def check(messages: list[dict], last: str, where: str, problems: list[str]) -> None:
    error = shape_error(messages, last)
    if error is None:
        try:
            render_strict(messages, generation=last == "user")
        except TemplateError as exc:
            error = f"a strict template refused it: {exc}"
    if error is not None:
        problems.append(f"{where}: {error}")


def check_folder(folder: Path) -> dict[str, int]:
    """Render every line of a prepared dataset; returns how many were checked per file, fails with the first few."""
    problems: list[str] = []
    checked = {}
    for name in SPLIT_FILES:
        rows = read_rows(folder / name)
        for number, row in enumerate(rows, 1):
            check(row["messages"], "assistant", f"{name} line {number}", problems)
        checked[name] = len(rows)
    rows = read_rows(folder / "dpo.jsonl")
    for number, row in enumerate(rows, 1):
        check(row["prompt"], "user", f"dpo.jsonl line {number} prompt", problems)
        for side in ("chosen", "rejected"):
            check(row["prompt"] + row[side], "assistant", f"dpo.jsonl line {number} {side}", problems)
    checked["dpo.jsonl"] = len(rows)
    assert not problems, f"{len(problems)} bad lines, first: {problems[:5]}"
    return checked


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def prepared_server(folder: Path, export: Path, config: DatasetConfig) -> tuple[Path, dict]:
    from core.config.workspace import Workspace
    workspace = Workspace.open(folder / "ws")
    conn = workspace.connect()
    report = import_paths(conn, [export])
    assert report.messages_new > 0 and not report.errors, report.errors
    out = folder / "data"
    stats = prepare_dataset(conn, config, out)
    conn.close()
    return out, stats


@pytest.fixture(scope="module")
def sample_server(tmp_path_factory):
    return prepared_server(tmp_path_factory.mktemp("sample"), SAMPLE_EXPORT, DatasetConfig())


@pytest.fixture(scope="module")
def shared_exports(tmp_path_factory):
    shared = conftest.SHARED_DATA
    if not shared.exists():
        pytest.skip(f"the shared real exports are not at {shared} (a clone alone runs the sample-server tests)")
    return prepared_server(tmp_path_factory.mktemp("shared"), shared, DatasetConfig(min_messages=5))


def test_the_strict_templates_refuse_the_old_shapes():
    """The fixtures can fail: each bad shape that prepare used to write is refused by both templates."""
    system = {"role": "system", "content": "You are Alice, chatting in #general of Cozy Server."}
    user, assistant = {"role": "user", "content": "Bob: hi"}, {"role": "assistant", "content": "hey"}
    for bad in ([system, assistant, user, assistant],          # system -> assistant
                [system, user, assistant, assistant],          # two assistant turns in a row
                [system, user, user, assistant]):              # two user turns in a row
        for name in STRICT:
            with pytest.raises(TemplateError):
                template(name).render(messages=bad, bos_token="<s>", eos_token="</s>")
    assert all(render_strict([system, user, assistant], generation=False))


def test_the_persona_speaking_first_or_just_before_the_target_keeps_the_shape():
    history = [turn(1, ALICE, "morning all"), turn(2, BOB, "hi all"), turn(3, CAROL, "yo"),
               turn(4, ALICE, "hey!"), turn(5, BOB, "what's up"), turn(6, ALICE, "one sec")]
    example = build_example(ALICE, PLACE, history, turn(7, ALICE, "not much"))
    assert [m["role"] for m in example] == ["system", "user", "assistant", "user", "assistant"]
    assert example[1]["content"] == "Bob: hi all\nCarol: yo"              # the leading persona turn is dropped
    assert example[-1] == {"role": "assistant", "content": "one sec\nnot much"}  # merged into the target
    prompt = build_prompt(ALICE, PLACE, history)                          # the bot's prompt: ends with user
    assert prompt == example[:-1] and prompt[-1]["content"] == "Bob: what's up"
    render_strict(prompt, generation=True)
    render_strict(example, generation=False)
    # only the persona's own turns before the target: nothing to answer, no example; the live prompt is just system
    assert build_example(ALICE, PLACE, history[:1], turn(7, ALICE, "again")) == []
    assert build_prompt(ALICE, PLACE, history[:1]) == build_prompt(ALICE, PLACE, [])
    assert build_prompt(Persona(9, "Zed"), Place("S", "c"), history)[-1]["role"] == "user"


def test_every_sample_server_example_renders_through_strict_templates(sample_server):
    out, stats = sample_server
    checked = check_folder(out)
    assert checked["train.jsonl"] > 300 and checked["val.jsonl"] > 0 and checked["test.jsonl"] > 0
    assert checked["dpo.jsonl"] == stats["dpo"]["pairs"]
    # the sample server has the cases the shape rules exist for (a persona speaking right before its own target)
    assert stats["prompt_shape"]["targets_merged_with_own_turns"] > 0


def test_every_shared_export_example_renders_through_strict_templates(shared_exports):
    out, _ = shared_exports
    checked = check_folder(out)
    assert checked["train.jsonl"] > 0


class TemplateTokenizer:
    """Stands in for a tokenizer in the training-side truncation: renders the strict Mistral template (so an
    ill-shaped truncation raises right there) and counts about four characters per token."""

    def apply_chat_template(self, messages, tokenize=True, return_dict=True):
        text = template(STRICT[0]).render(messages=messages, bos_token="<s>", eos_token="</s>")
        return {"input_ids": list(range(len(text) // 4))}


@pytest.mark.slow  # imports the ML stack (model.training_data pulls in torch and datasets)
@pytest.mark.parametrize("max_length", [110, 160, 400])  # the style line takes ~50 of these tokens
def test_training_side_truncation_keeps_the_shape(sample_server, max_length):
    from model.training_data import load_preferences, load_split
    out, _ = sample_server
    problems: list[str] = []
    for name in ("train", "val", "test"):
        rows, stats = load_split(out, name, TemplateTokenizer(), max_length)
        assert stats.kept + stats.too_long == stats.read > 0
        for number, row in enumerate(rows or [], 1):
            check(row["prompt"] + row["completion"], "assistant", f"{name} row {number}", problems)
        if max_length <= 160:
            assert stats.trimmed > 0  # the truncation was exercised
    preferences = load_preferences(out, TemplateTokenizer(), max_length)
    for number, row in enumerate(preferences or [], 1):
        check(row["prompt"], "user", f"dpo row {number} prompt", problems)
        check(row["prompt"] + row["chosen"], "assistant", f"dpo row {number} chosen", problems)
    assert not problems, problems[:5]
