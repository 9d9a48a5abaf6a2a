"""The prompt builder: template, roles, labels, context selection, and parity between prepare and live messages."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from core.config.app_config import DatasetConfig
from core.prompting.live import make_place
from core.dataset.personas import live_options, load_persona
from core.dataset.pipeline import prepare_dataset
from core.conversation.turns import Persona, Place, Turn
from core.prompting.builder import build_example, build_prompt, estimate_tokens, select_context
from core.prompting.live import turns_from_live
from storage import consent as consent_store, personas as store
from tests.test_dataset_support import History, live_messages, read_jsonl

T0 = datetime(2024, 5, 1, 18, 0, tzinfo=timezone.utc)
ALICE, BOB, CAROL = Persona(1, "Alice"), Persona(2, "Bob"), Persona(3, "Carol")
PLACE = Place("Cozy Server", "general")


def turn(number: int, speaker: Persona, text: str, reply_to: int | None = None) -> Turn:
    return Turn(speaker.id, speaker.name, text, T0 + timedelta(minutes=number), number, reply_to, (number,))


def test_system_prompt_names_persona_and_place_and_description():
    prompt = build_prompt(Persona(1, "Alice", "Loves cats; answers in lowercase."), PLACE, [])
    assert prompt == [{"role": "system", "content": 'You are Alice, chatting in a channel named "general" on a '
                                                     'server named "Cozy Server". Loves cats; answers in lowercase.'}]
    assert build_prompt(ALICE, PLACE, [])[0]["content"] == \
        'You are Alice, chatting in a channel named "general" on a server named "Cozy Server".'


def test_the_smoke_test_reads_the_place_back_from_new_and_old_system_prompts():
    from model.smoke_prompts import live_prompt, place_of
    place = make_place('Cozy "Quoted" Server', "general chat")
    prompt = build_prompt(ALICE, place, [])
    assert place_of({"messages": prompt}) == ("Alice", "Cozy 'Quoted' Server", "general chat")
    assert live_prompt(*place_of({"messages": prompt}))[0] == prompt[0]  # the same system message again
    old = {"messages": [{"role": "system", "content": "You are Alice, chatting in #general of Cozy Server."}]}
    assert place_of(old) == ("Alice", "Cozy Server", "general")  # a dataset prepared before names were quoted


def test_the_smoke_tests_live_prompt_carries_the_personas_style_line_as_the_bot_sends_it(tmp_path):
    """Export smoke-tests the prompt the bot will send: the persona's style line from the dataset, not a bare
    place sentence (a model trained with style lines was once judged on a prompt without one)."""
    import json
    from model.smoke_prompts import default_prompts
    style = "Style: short messages (about 6 words); all lowercase; tone: laid-back."
    example = build_example(Persona(1, "Alice", style), PLACE, [turn(1, BOB, "hi all")], turn(2, ALICE, "hey"))
    (tmp_path / "test.jsonl").write_text(json.dumps({"messages": example}) + "\n", encoding="utf-8")
    prompts = default_prompts({"data_dir": str(tmp_path)}, tmp_path)
    live = next(item for item in prompts if item.label == "Alice (live prompt)")
    assert live.messages[0] == example[0] and live.messages[0]["content"].endswith(style)


def test_roles_labels_and_merged_user_turns():
    history = [turn(1, BOB, "hi all"), turn(2, CAROL, "yo"), turn(3, ALICE, "hey!"), turn(4, BOB, "what's up")]
    messages = build_example(ALICE, PLACE, history, turn(5, ALICE, "not much"))
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    assert messages[1]["content"] == "Bob: hi all\nCarol: yo"  # consecutive other speakers: one user message
    assert messages[2]["content"] == "hey!"                      # the persona's own turns: unlabelled assistant
    assert messages[3]["content"] == "Bob: what's up"
    assert messages[4] == {"role": "assistant", "content": "not much"}


def test_budget_and_max_turns_drop_the_oldest_turns_first():
    history = [turn(n, BOB if n % 2 else CAROL, f"message number {n} " + "x" * 40) for n in range(1, 21)]
    assert [t.message_id for t in select_context(history, max_turns=5, token_budget=10_000)] == [16, 17, 18, 19, 20]
    each = estimate_tokens(history[0].text) + estimate_tokens("Bob") + 4
    chosen = select_context(history, max_turns=12, token_budget=3 * each + 2)
    assert [t.message_id for t in chosen] == [18, 19, 20]


def test_reply_chain_comes_first_then_the_preceding_turns_in_time_order():
    history = [turn(n, BOB if n % 2 else CAROL, f"line {n}") for n in range(1, 21)]
    history[2] = turn(3, CAROL, "answer to 2", reply_to=2)
    chosen = select_context(history, reply_to_id=3, max_turns=4, token_budget=10_000)
    assert [t.message_id for t in chosen] == [2, 3, 19, 20]  # the chain 3 -> 2, then the newest turns
    # a chain turn that is also among the newest keeps its place
    chosen = select_context(history, reply_to_id=19, max_turns=3, token_budget=10_000)
    assert [t.message_id for t in chosen] == [18, 19, 20]


def test_token_estimate_is_rough_but_counts_emoji_and_scripts():
    assert estimate_tokens("") == 1
    assert 20 <= estimate_tokens("a" * 100) <= 30
    assert estimate_tokens("🙂" * 10) >= 10
    assert estimate_tokens("日本語のテキスト") >= 8


def live(message_id, author, text, minutes, *, bot=False, reply_to=None, mentions=(), kind="Default"):
    return SimpleNamespace(
        id=message_id, content=text, created_at=T0 + timedelta(minutes=minutes), type=kind,
        author=SimpleNamespace(id=author[0], display_name=author[1], name=author[1].lower(), bot=bot),
        reference=SimpleNamespace(message_id=reply_to) if reply_to else None,
        mentions=[SimpleNamespace(id=i, display_name=n, name=n.lower()) for i, n in mentions],
        attachments=[], reactions=[])


def test_live_messages_become_turns_like_prepare_would_make_them():
    bob, carol, eve, music_bot, me = (2, "Bob"), (3, "Carol"), (5, "Eve"), (7, "MusicBot"), (99, "PersonaBot")
    messages = [
        live(10, bob, "old topic", 0),
        live(11, bob, "hey <@3> look", 100, mentions=[carol]),      # more than 30 minutes later: new conversation
        live(12, bob, "mail me at bob@example.com", 100.5),          # merged into Bob's turn (within 2 minutes)
        live(13, music_bot, "Now playing", 101, bot=True),            # bots are left out
        live(14, carol, "!play song", 102),                           # commands are left out
        live(15, me, "hi bob", 103),                                  # the bot's own message: the persona's turn
        live(16, carol, "cool <:kekw:123456789012345678>", 104),
    ]
    turns = turns_from_live(reversed(messages), bot_user_id=99, persona=ALICE, opted_out={5: ["Eve"]})
    assert [(t.speaker_name, t.text) for t in turns] == [
        ("Bob", "hey @Carol look\nmail me at [EMAIL]"), ("Alice", "hi bob"), ("Carol", "cool :kekw:")]
    assert turns[0].message_ids == (11, 12)
    # an opted-out user's message cuts the context and their name is hidden in others' text
    cut = turns_from_live([*messages, live(17, eve, "secret stuff", 105), live(18, bob, "bye Eve", 106)],
                          opted_out={5: ["Eve"]})
    assert [(t.speaker_name, t.text) for t in cut] == [("Bob", "bye someone")]


def parity_history() -> History:
    history = History()
    users = [history.user(100 + n, name) for n, name in enumerate(["Alice", "Bob", "Carol", "Dave", "Eve"])]
    alice, bob, carol, dave, eve = users
    history.user(190, "HelperBot", bot=True)
    general = history.channel(5000, "general")
    last = None
    for round_number in range(12):
        first = history.say(general, bob, f"round {round_number}: anyone around? <@{alice}>", after=2400,
                            mentions=(alice,))
        history.say(general, alice, f"yes hi @Bob, round {round_number}", reply_to=first, mentions=(bob,),
                    reactions=round_number % 2)
        history.say(general, alice, "call me at +1 (555) 123-4567", after=30)
        history.say(general, 190, "beep", after=10)
        history.say(general, carol, "!roll d20", after=10)
        history.say(general, carol, f"I was here first {round_number}", reply_to=last, after=200)
        if round_number % 4 == 3:
            history.say(general, eve, "my private words", after=20)
        history.say(general, dave, f"hello @Eve and <@{alice}>", mentions=(eve, alice), after=40)
        history.say(general, bob, "that's it", reply_to=first, reactions=2, after=15)
        last = history.say(general, alice, f"ok {round_number}", after=5)
    for round_number in range(3):  # the persona opens a conversation and speaks twice in a row: shaped prompts
        history.say(general, alice, f"morning all {round_number}", after=4000)
        history.say(general, alice, f"anyone up? {round_number}", after=300)
        asked = history.say(general, bob, f"me, what's new {round_number}", after=60)
        history.say(general, alice, f"new job {round_number}", reply_to=asked, after=10)
        history.say(general, alice, f"starting monday {round_number}", after=300)
    return history


def test_prepare_and_live_messages_give_the_same_prompt(workspace):
    conn = workspace.connect()
    parity_history().write(conn)
    store.set_profile(conn, 100, name="Ally")                 # a renamed persona: the same label in both paths
    consent_store.set_opted_out(conn, 104, True)                      # Eve: cut contexts, hidden mentions
    config = DatasetConfig(min_messages=5, split_ratios=[1.0, 0.0, 0.0], max_share=1.0)
    prepare_dataset(conn, config, workspace.root / "set")
    examples = read_jsonl(workspace.root / "set" / "train.jsonl")
    assert len(examples) >= 30
    merged = [e["messages"][-1]["content"] for e in examples if "starting monday" in e["messages"][-1]["content"]]
    assert sorted(merged) == [f"new job {n}\nstarting monday {n}" for n in range(3)]  # own turn + target, merged
    assert all(e["messages"][1]["role"] == "user" and e["messages"][-2]["role"] == "user" for e in examples)
    options = live_options(conn)  # what the bot passes: persona names and opted-out users from the database
    place = make_place("Test Server", "general")
    for example in examples:
        meta = example["meta"]
        target_id = int(meta["message_id"])
        persona = load_persona(conn, meta["persona_id"])
        history = live_messages(conn, int(meta["channel_id"]), until_id=target_id)
        turns = turns_from_live(history, **options, config=config)
        reply_to = conn.execute("SELECT reply_to_id FROM messages WHERE id = ?", (target_id,)).fetchone()[0]
        prompt = build_prompt(persona, place, turns, max_turns=config.max_context_turns,
                              token_budget=config.context_token_budget, reply_to_id=reply_to)
        assert prompt == example["messages"][:-1], meta
    text = (workspace.root / "set" / "train.jsonl").read_text(encoding="utf-8")
    assert "Eve" not in text and "private words" not in text and "555" not in text
    assert "Ally" in text and "@someone" in text
