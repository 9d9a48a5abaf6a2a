"""DPO preference pairs from reactions: two replies to the same message, one reacted to and one not.

"Same prompt" is taken literally: both replies answer the same parent message, and the prompt is the context up to
and including that parent (its reply chain first), the same for every reply. It is built only once a parent has
both a possible chosen and a possible rejected reply (most never do), from the history cut at the parent. The
chosen reply (reactions > 0) must be a selected persona's eligible turn; the rejected one (no reactions) any
eligible turn. The prompt has the shared builder's shape, so it ends with a user turn: when the parent (and any
turns just before it) are the chosen persona's own, the prompt ends before them. Pairs are written only for
training-split conversations; where no parent has both kinds of replies no pair is made, and the stats say how
many parents had several replies.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from core.conversation.turns import Persona, Place, Turn
from core.prompting.builder import prompt_and_tail, select_context

MAX_PENDING_PARENTS = 64  # parents with replies tracked per conversation; the oldest are settled first


@dataclass
class ParentReplies:
    parent: Turn
    replies: list[tuple[Turn, str]] = field(default_factory=list)
    context: list[Turn] | None = None
    chosen: bool = False     # a reacted reply by a selected persona has arrived
    rejected: bool = False   # a reply without reactions has arrived


@dataclass
class DpoCounts:
    pairs: int = 0
    parents_with_several_replies: int = 0
    prompts_cut: int = 0      # prompts that end before the persona's own turns (the parent was the persona's turn)


class DpoCollector:
    def __init__(self, personas: dict[int, Persona], place: Place, *, max_turns: int, token_budget: int,
                 emit: Callable[[object, Persona, Turn, dict], bool], counts: DpoCounts):
        self.personas, self.place = personas, place
        self.max_turns, self.token_budget = max_turns, token_budget
        self.emit, self.counts = emit, counts

    def observe(self, conversation, turn: Turn, text: str) -> None:
        """A closed, target-eligible turn that replies to ``turn.reply_to_id`` (call before it joins the history)."""
        parent = conversation.index.get(turn.reply_to_id)
        if parent is None:
            return
        pending = conversation.state
        if pending is None:
            pending = conversation.state = OrderedDict()
        entry = pending.get(parent.message_id)
        if entry is None:
            entry = pending[parent.message_id] = ParentReplies(parent)
            if len(pending) > MAX_PENDING_PARENTS:
                self._settle(conversation, pending.popitem(last=False)[1])
        entry.replies.append((turn, text))
        if turn.reactions == 0:
            entry.rejected = True
        elif turn.speaker_id in self.personas:
            entry.chosen = True
        if entry.context is None and entry.chosen and entry.rejected:
            entry.context = self._context(conversation, parent)  # the parent is in the history right now

    def flush(self, conversation) -> None:
        pending = conversation.state
        if pending:
            for entry in pending.values():
                self._settle(conversation, entry)
        conversation.state = None

    def _context(self, conversation, parent: Turn) -> list[Turn] | None:
        """The context a reply to ``parent`` sees; None when the parent has left the kept history."""
        turns = list(conversation.history)
        end = len(turns)
        while end and turns[end - 1] is not parent:
            end -= 1
        if not end:
            return None
        return select_context(turns[:end], reply_to_id=parent.message_id, max_turns=self.max_turns,
                              token_budget=self.token_budget, index=conversation.index)

    def _settle(self, conversation, entry: ParentReplies) -> None:
        if len(entry.replies) < 2:
            return
        self.counts.parents_with_several_replies += 1
        rejected = [(turn, text) for turn, text in entry.replies if turn.reactions == 0]
        chosen = [(turn, text) for turn, text in entry.replies
                  if turn.reactions > 0 and turn.speaker_id in self.personas]
        context = entry.context
        if not context:
            return
        for number, (turn, text) in enumerate(chosen):
            other, other_text = rejected[number % len(rejected)]
            persona = self.personas[turn.speaker_id]
            speakers = {persona.id, other.speaker_id}  # the rejected reply may be anyone's
            prompt, tail = prompt_and_tail(persona, self.place, context, max_turns=self.max_turns,
                                           token_budget=self.token_budget, speakers=speakers)
            if len(prompt) < 2:  # only the persona's own turns: no user turn for the replies to answer
                continue
            written = self.emit(conversation, persona, turn, {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": text}],
                "rejected": [{"role": "assistant", "content": other_text}],
                "rejected_message_id": str(other.message_id),
                "speakers": speakers,
            })
            self.counts.pairs += bool(written)
            self.counts.prompts_cut += bool(written and tail)
