"""The one prompt builder: the same template, speaker labels and truncation for training examples and for the bot.

Shape of a prompt (a list of chat messages), the same for training examples, DPO prompts and the bot:
- a system message: 'You are {name}, chatting in a channel named "{channel}" on a server named "{server}".' plus
  the persona's description when set. The place names (a thread's own name for a thread) are quoted data: one line,
  no double quotes of their own, at most 100 characters (``core.prompting.quoting``), so a thread named like an
  instruction reads as a name;
- the context turns in time order. The persona's own turns are ``assistant`` messages. Other speakers' turns are
  ``user`` messages whose lines read ``Name: text``; *consecutive* turns of other speakers are merged into one user
  message, one ``Name: text`` line each (and consecutive persona turns into one assistant message);
- a training example adds the target as the final ``assistant`` message; at inference the model writes that message.

Role order (``shape_context``), so that every chat template accepts the prompt, strict ones included (Mistral's and
Gemma's raise unless roles alternate user/assistant after the optional system message):
- after the system message the roles alternate, starting with ``user``; a prompt ends with ``user``;
- persona turns at the start of the selected context are dropped (there is no user turn for them to answer);
- persona turns at the end of the context (the persona spoke just before the reply) leave the prompt: a training
  example merges them into its target (the final assistant message is those turns and the target, one per line,
  as the threader merges an author's consecutive messages), the bot's prompt and a DPO prompt just end before them;
- a context left with no user turn gives no example (``no_context``).

Context selection (``select_context``): the turns of the target's conversation before it, reply chain first (the
message it replies to, that message's parent, ...), then the preceding turns newest first, up to ``max_turns`` turns
and ``token_budget`` estimated tokens; whatever does not fit is dropped oldest first. Tokens are estimated by a fast
heuristic (no tokenizer in the app process): roughly 4 ASCII characters or 1 non-ASCII character per token.

The live side (``core.prompting.live.turns_from_live``) turns discord.py-like message objects into Turns through the
same filters, mention handling, scrubbing, threading and merging as ``prepare``, so the bot's prompt for a
conversation equals the prepared example's prompt for it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from core.conversation.turns import Persona, Place, Turn
from core.prompting.quoting import NAME_LIMIT, quoted

DEFAULT_MAX_TURNS = 12        # matches DatasetConfig.max_context_turns
DEFAULT_TOKEN_BUDGET = 768    # matches DatasetConfig.context_token_budget
TURN_OVERHEAD_TOKENS = 4      # role markers and the newline around each turn in a chat template




def estimate_tokens(text: str) -> int:
    """A fast token estimate: ~4 ASCII characters per token, ~1 token per non-ASCII character (emoji, CJK)."""
    characters = len(text)
    if text.isascii():
        return characters // 4 + 1
    non_ascii = (len(text.encode("utf-8")) - characters) // 2
    return (characters - non_ascii) // 4 + non_ascii + 1


def system_prompt(persona: Persona, place: Place) -> str:
    text = (f"You are {persona.name}, chatting in a channel named {quoted(place.channel, NAME_LIMIT)} "
            f"on a server named {quoted(place.server, NAME_LIMIT)}.")
    if persona.description:
        text += " " + persona.description.strip()
    return text


def select_context(history: Sequence[Turn], *, reply_to_id: int | None = None,
                   max_turns: int = DEFAULT_MAX_TURNS, token_budget: int = DEFAULT_TOKEN_BUDGET,
                   count_tokens: Callable[[str], int] = estimate_tokens,
                   index: Mapping[int, Turn] | None = None) -> list[Turn]:
    """The context turns for a target after ``history`` (the conversation so far), in time order.

    ``index`` (message id -> turn of ``history``) saves rebuilding the lookup when the caller keeps one.
    """
    if not history or max_turns <= 0:
        return []
    if reply_to_id is None:
        return preceding_turns(history, max_turns, token_budget, count_tokens)
    lookup = index if index is not None else {mid: turn for turn in history for mid in turn.message_ids}
    chain = reply_chain(lookup, reply_to_id, max_turns, token_budget, count_tokens)
    budget = token_budget - sum(turn_cost(turn, count_tokens) for turn in chain)
    slots = max_turns - len(chain)
    # The preceding turns, newest first. Chain turns met on the way keep their place; the chain turns older than
    # every preceding turn taken come before them all (a reply chain only goes back in time).
    recent: list[Turn] = []
    chained = {id(turn) for turn in chain}
    met: set[int] = set()
    for turn in reversed(history):
        if id(turn) in chained:
            recent.append(turn)
            met.add(id(turn))
            continue
        if not slots:
            break
        cost = turn_cost(turn, count_tokens)
        if cost > budget:
            break
        recent.append(turn)
        budget, slots = budget - cost, slots - 1
    older_chain = [turn for turn in chain if id(turn) not in met]
    return older_chain[::-1] + recent[::-1]


def reply_chain(lookup: Mapping[int, Turn], reply_to_id: int, max_turns: int, budget: int,
                count_tokens: Callable[[str], int]) -> list[Turn]:
    """The replied-to turn, its own parent, ... (newest first) while they fit."""
    chain: list[Turn] = []
    seen: set[int] = set()
    message_id = reply_to_id
    while message_id is not None and len(chain) < max_turns:
        turn = lookup.get(message_id)
        if turn is None or id(turn) in seen:
            break
        cost = turn_cost(turn, count_tokens)
        if cost > budget:
            break
        chain.append(turn)
        seen.add(id(turn))
        budget -= cost
        message_id = turn.reply_to_id
    return chain


def preceding_turns(history: Sequence[Turn], max_turns: int, budget: int,
                    count_tokens: Callable[[str], int]) -> list[Turn]:
    """The newest turns that fit, in time order (``select_context`` without a reply chain; the hot path)."""
    taken: list[Turn] = []
    for turn in reversed(history):
        cost = turn_cost(turn, count_tokens)
        if cost > budget:
            break
        taken.append(turn)
        budget -= cost
        if len(taken) == max_turns:
            break
    return taken[::-1]


def turn_cost(turn: Turn, count_tokens: Callable[[str], int]) -> int:
    if count_tokens is not estimate_tokens:
        return count_tokens(turn.text) + count_tokens(turn.speaker_name) + TURN_OVERHEAD_TOKENS
    cost = turn.estimated_cost
    if cost is None:
        cost = estimate_tokens(turn.text) + estimate_tokens(turn.speaker_name) + TURN_OVERHEAD_TOKENS
        object.__setattr__(turn, "estimated_cost", cost)
    return cost


def render_turns(persona: Persona, turns: Sequence[Turn]) -> list[dict]:
    """Chat messages for context turns: persona turns as assistant, others as ``Name: text`` user lines."""
    messages: list[dict] = []
    role, lines = None, []
    persona_id = persona.id
    for turn in turns:
        if turn.speaker_id == persona_id:
            turn_role, line = "assistant", turn.text
        else:
            turn_role, line = "user", turn.labelled
            if line is None:
                line = f"{turn.speaker_name}: {turn.text}"
                object.__setattr__(turn, "labelled", line)
        if turn_role != role and lines:
            messages.append({"role": role, "content": "\n".join(lines)})
            lines = []
        role = turn_role
        lines.append(line)
    if lines:
        messages.append({"role": role, "content": "\n".join(lines)})
    return messages


def shape_context(persona: Persona, context: Sequence[Turn]) -> tuple[list[Turn], list[Turn]]:
    """(the context without the persona's leading and trailing turns, those trailing turns).

    Rendered, the first list starts and ends with a user message (or is empty), so after the system message roles
    alternate user/assistant and the prompt ends with user. The trailing turns are what the persona said right before
    the reply: a training example merges them into its target, a live or DPO prompt leaves them out.
    """
    persona_id = persona.id
    start, end = 0, len(context)
    while start < end and context[start].speaker_id == persona_id:
        start += 1
    while end > start and context[end - 1].speaker_id == persona_id:
        end -= 1
    body = list(context[start:end])
    return body, (list(context[end:]) if body else [])


def prompt_and_tail(persona: Persona, place: Place, history: Sequence[Turn], *,
                    max_turns: int = DEFAULT_MAX_TURNS, token_budget: int = DEFAULT_TOKEN_BUDGET,
                    count_tokens: Callable[[str], int] = estimate_tokens, reply_to_id: int | None = None,
                    index: Mapping[int, Turn] | None = None,
                    speakers: set[int] | None = None) -> tuple[list[dict], list[Turn]]:
    """``build_prompt``'s messages plus the persona's trailing turns it left out (see ``shape_context``).
    ``speakers``, when given, receives the id of everyone whose turn is in the prompt (``prepare`` counts them)."""
    context = select_context(history, reply_to_id=reply_to_id, max_turns=max_turns, token_budget=token_budget,
                             count_tokens=count_tokens, index=index)
    body, tail = shape_context(persona, context)
    if speakers is not None:
        speakers.update(turn.speaker_id for turn in body)
    return [{"role": "system", "content": system_prompt(persona, place)}, *render_turns(persona, body)], tail


def build_prompt(persona: Persona, place: Place, history: Sequence[Turn], *, max_turns: int = DEFAULT_MAX_TURNS,
                 token_budget: int = DEFAULT_TOKEN_BUDGET, count_tokens: Callable[[str], int] = estimate_tokens,
                 reply_to_id: int | None = None, index: Mapping[int, Turn] | None = None) -> list[dict]:
    """System message plus the selected context, shaped to end with a user message; the model's next message is the
    persona's reply. Just the system message when no other speaker's turn is in the context.

    ``reply_to_id``: the message the reply will answer (at inference: the message that triggered the bot), so that
    its reply chain is kept first, exactly as for a training target that replies to it.
    """
    return prompt_and_tail(persona, place, history, max_turns=max_turns, token_budget=token_budget,
                           count_tokens=count_tokens, reply_to_id=reply_to_id, index=index)[0]


def target_message(tail: Sequence[Turn], text: str) -> dict:
    """The final assistant message: the persona's trailing context turns and the target, one per line."""
    return {"role": "assistant", "content": "\n".join([*(turn.text for turn in tail), text])}


def build_example(persona: Persona, place: Place, history: Sequence[Turn], target: Turn, *,
                  max_turns: int = DEFAULT_MAX_TURNS, token_budget: int = DEFAULT_TOKEN_BUDGET,
                  count_tokens: Callable[[str], int] = estimate_tokens,
                  index: Mapping[int, Turn] | None = None) -> list[dict]:
    """The prompt for ``target`` (a turn of ``persona``) plus the target as the final assistant message; [] when the
    context has no other speaker's turn (nothing for the target to answer)."""
    prompt, tail = prompt_and_tail(persona, place, history, max_turns=max_turns, token_budget=token_budget,
                                   count_tokens=count_tokens, reply_to_id=target.reply_to_id, index=index)
    if len(prompt) < 2:
        return []
    return [*prompt, target_message(tail, target.text)]
