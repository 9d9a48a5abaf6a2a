"""Training examples from threaded turns: the listener ``prepare`` gives the threader, one per channel.

For every closed turn of a selected persona that passes the target filters, the example is the shared prompt
builder's prompt for the turn's conversation so far plus the turn as the final assistant message (merged with the
persona's own turns right before it, which the prompt leaves out: ``core.prompting.builder.shape_context``), with meta
``persona_id``, ``conversation_id``, ``message_id``, ``channel_id`` (ids as strings: JSON numbers lose 64-bit ids in
JavaScript and some JSON readers) and ``timestamp`` (UTC ISO 8601). Each example is serialised once and spooled with
its split and sampling key; training candidates are also counted for balancing. ``meta.message_id`` is the example's
stable id: an example the Dataset page marked bad (``storage.curation``) is dropped before it is counted, or becomes a
DPO pair when the mark carries a better answer.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import orjson

from core.config.app_config import DatasetConfig
from core.dataset.balance import Counting, sampling_bin
from core.dataset.dpo import DpoCollector, DpoCounts
from core.conversation.filters import target_reason, target_text
from core.dataset.splits import Splitter
from core.conversation.threading import Conversation
from core.dataset.writer import Spool
from core.conversation.turns import Persona, Place, Turn
from core.dataset.profile import MAX_TEXTS
from core.prompting.builder import prompt_and_tail, target_message


@dataclass
class BuildState:
    """What every channel's builder shares: the selection, the config and the running counts."""
    personas: dict[int, Persona]
    config: DatasetConfig
    splitter: Splitter
    spool: Spool
    counting: Counting = field(default_factory=Counting)
    filtered: Counter = field(default_factory=Counter)
    candidates: Counter = field(default_factory=Counter)      # examples built, by split
    conversations: Counter = field(default_factory=Counter)   # conversations that gave examples, by split
    dpo: DpoCounts = field(default_factory=DpoCounts)
    merged_targets: int = 0   # targets the persona's own turns just before them were merged into (prompt shape)
    # Curation (storage.curation.bad_marks): message id of an example marked bad -> its better answer or None.
    marks: dict[int, str | None] = field(default_factory=dict)
    curated: Counter = field(default_factory=Counter)         # "dropped_bad", "dpo_pairs" made from marks
    # Training-split replies per persona, for the automatic profile (core.dataset.profile): never a held-out one.
    style_texts: dict[int, list[str]] = field(default_factory=dict)


class ExampleBuilder:
    def __init__(self, state: BuildState, place: Place, channel_id: int):
        self.state, self.place, self.channel_id = state, place, channel_id
        config = state.config
        self.max_turns, self.budget = config.max_context_turns, config.context_token_budget
        self.min_chars, self.seed, self.boost = config.min_target_chars, config.seed, config.reaction_boost
        self.dpo = DpoCollector(state.personas, place, max_turns=self.max_turns, token_budget=self.budget,
                                emit=self._emit_pair, counts=state.dpo)

    def on_turn(self, conversation: Conversation, turn: Turn) -> None:
        persona = self.state.personas.get(turn.speaker_id)
        if persona is None and turn.reply_to_id is None:
            return
        text = target_text(turn.text)
        reason = target_reason(text, self.min_chars)
        if persona is not None:
            if reason is not None:
                self.state.filtered[reason] += 1
            else:
                self._example(conversation, persona, turn, text)
        if reason is None and turn.reply_to_id is not None:
            self.dpo.observe(conversation, turn, text)

    def on_cut(self, conversation: Conversation) -> None:
        self.dpo.flush(conversation)

    def on_end(self, conversation: Conversation) -> None:
        self.dpo.flush(conversation)

    def split_of(self, conversation: Conversation) -> str:
        if conversation.split is None:
            conversation.split = self.state.splitter.split(conversation.first_message_id)
            self.state.conversations[conversation.split] += 1
        return conversation.split

    def _example(self, conversation: Conversation, persona: Persona, turn: Turn, text: str) -> None:
        speakers = {persona.id}
        messages, tail = prompt_and_tail(persona, self.place, conversation.history, max_turns=self.max_turns,
                                         token_budget=self.budget, reply_to_id=turn.reply_to_id,
                                         index=conversation.index, speakers=speakers)
        if len(messages) < 2:  # no other speaker's turn in the context: nothing for the target to answer
            self.state.filtered["no_context"] += 1
            return
        if turn.message_id in self.state.marks:
            self._marked_bad(conversation, persona, turn, messages, target_message(tail, text), speakers)
            return
        messages.append(target_message(tail, text))
        self.state.merged_targets += bool(tail)
        split = self.split_of(conversation)
        record = {"messages": messages, "meta": self._meta(persona, conversation, turn)}
        key_bin = 0
        if split == "train":
            key_bin = sampling_bin(turn.message_id, turn.reactions, self.seed, self.boost)
            self.state.counting.observe(persona.id, key_bin)
            texts = self.state.style_texts.setdefault(persona.id, [])
            if len(texts) < MAX_TEXTS:
                texts.append(text)
        self.state.candidates[split] += 1
        self.state.spool.add(b"e", split, persona.id, key_bin, orjson.dumps(record), speakers)

    def _marked_bad(self, conversation: Conversation, persona: Persona, turn: Turn, prompt: list[dict],
                    answer: dict, speakers: set[int]) -> None:
        """An example marked bad is never trained on; with a better answer (and in the training split) it becomes
        a preference pair: the better answer chosen, the example's own answer rejected."""
        self.state.curated["dropped_bad"] += 1
        better = self.state.marks[turn.message_id]
        if not better or self.split_of(conversation) != "train":
            return
        meta = {**self._meta(persona, conversation, turn), "source": "curation"}
        pair = {"prompt": prompt, "chosen": [{"role": "assistant", "content": better}], "rejected": [answer],
                "meta": meta}
        self.state.spool.add(b"d", "train", persona.id, 0, orjson.dumps(pair), speakers)
        self.state.curated["dpo_pairs"] += 1

    def _emit_pair(self, conversation: Conversation, persona: Persona, turn: Turn, pair: dict) -> bool:
        split = self.split_of(conversation)
        if split != "train":  # preference pairs train the model: keep evaluation conversations out of them
            return False
        if turn.message_id in self.state.marks:  # an answer marked bad is never the chosen one
            return False
        meta = self._meta(persona, conversation, turn)
        meta["rejected_message_id"] = pair.pop("rejected_message_id")
        speakers = pair.pop("speakers")
        pair["meta"] = meta
        self.state.spool.add(b"d", split, persona.id, 0, orjson.dumps(pair), speakers)
        return True

    def _meta(self, persona: Persona, conversation: Conversation, turn: Turn) -> dict:
        return {"persona_id": str(persona.id), "conversation_id": conversation.id, "message_id": str(turn.message_id),
                "channel_id": str(self.channel_id), "timestamp": turn.created_at.isoformat(timespec="microseconds")}
