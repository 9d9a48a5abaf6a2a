"""The automatic persona profile: how someone writes, computed from their own training replies.

A profile is plain data (``StyleProfile``) and one line of text (``describe``) that ``prepare`` adds to the persona's
system message, after the owner's description, in every example of every split; the bot and the playground add the
same line (``core.dataset.personas``), so a model sees at inference the profile it learned to follow. It says:
- how long their messages are (the median in words);
- casing (all lowercase, often CAPITALS) and how they end a line (no full stop, "!", "...", "?");
- the emoji and emoticons they use most;
- signature phrases: word n-grams they use far more than the others (a smoothed log-odds ratio against the other
  personas' replies, the "fightin' words" statistic of Monroe et al. 2008), and a few topic words the same way;
- a tone word derived from the above (excitable, formal, laid-back, terse, curious).

Why: the name alone ("You are Wren") did not separate six personas of the sample server (bench/RESULTS.md, fidelity):
a 135M model learned the server's voice, not each person's. A profile gives every example a description of the
voice to follow, which the adapter learns to use and which also tells the base model something.

The profile is computed from the *training* split's replies only, so no held-out reply shapes it. Its phrases are
the person's words: it is stored with the persona (``storage.personas``), deleted by forget and opt-out, and the
owner can edit the line (an edited line replaces the computed one).
"""
from __future__ import annotations

import math
import random
import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

WORD = re.compile(r"[a-z0-9']+")
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\U0001F1E6-\U0001F1FF]"
                   "[\uFE0F\u200D\U0001F3FB-\U0001F3FF\U0001F000-\U0001FAFF\u2600-\u27BF]*")
EMOTICON = re.compile(r"(?<!\w)(?::-?[)(DPp/]|;-?\)|<3|xD|XD|\^\^|:3|T_T|o7)(?!\w)")
MAX_PHRASES = 5
MAX_TOPICS = 4
MAX_EMOJI = 4
MAX_TEXTS = 4000            # replies read per persona: the profile settles long before
MIN_PHRASE_SHARE = 0.02     # a phrase must appear in this share of the person's replies (and at least 3)
PRIOR = 0.5                 # Dirichlet smoothing of the log-odds (per n-gram, in counts)
LONGER_BONUS = 0.3          # score bonus per extra word of a phrase
EXAMPLE_CHARS = 100         # longest line quoted as an example of their voice
PHRASE_TEXT_LIMIT = 40      # characters of one phrase in the line
STOPWORDS = frozenset(
    "a an the and or but if of to in on at for with is are was were be been it its i me my you your u we our he "
    "she they them this that these those so as do does did not no yes just too very can will would should could "
    "have has had what who how why when where there here then than also up out about from by into over all any "
    "some more most one".split())


@dataclass
class StyleProfile:
    replies: int = 0
    words_median: float = 0.0
    lowercase_share: float = 0.0     # replies with letters and no capital letter
    capitals_share: float = 0.0      # replies written mostly in capitals
    endings: dict[str, float] = field(default_factory=dict)   # "none", ".", "!", "?", "..." -> share of replies
    emoji: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    tone: str = ""
    examples: list[str] = field(default_factory=list)   # their own lines quoted in the prompt (dataset.style_examples)

    def as_json(self) -> dict:
        return asdict(self)


def compute_profiles(texts_by_persona: Mapping[int, Sequence[str]], names: Sequence[str] = ()
                     ) -> dict[int, StyleProfile]:
    """A profile per persona; phrases and topics are what sets each one apart from the others given here. Words of
    ``names`` (the people of the server) are left out of both: addressing someone is not a style."""
    skip = {word for name in names for word in WORD.findall(name.lower())}
    grams = {pid: message_grams(texts[:MAX_TEXTS]) for pid, texts in texts_by_persona.items()}
    totals = Counter()
    for counts in grams.values():
        totals.update(counts)
    profiles = {}
    for persona_id, texts in texts_by_persona.items():
        texts = list(texts[:MAX_TEXTS])
        profile = surface_profile(texts)
        distinctive = [(gram, score) for gram, score in distinctive_grams(grams[persona_id], totals, len(texts))
                       if not skip.intersection(gram.split())]
        profile.phrases = pick_phrases(distinctive)
        profile.topics = pick_topics(distinctive, profile.phrases)
        profiles[persona_id] = profile
    return profiles


def surface_profile(texts: Sequence[str]) -> StyleProfile:
    """Length, casing, endings, emoji and tone: what one person's replies alone say."""
    profile = StyleProfile(replies=len(texts))
    if not texts:
        return profile
    profile.words_median = float(statistics.median(len(text.split()) for text in texts))
    lettered = [text for text in texts if any(ch.isalpha() for ch in text)]
    if lettered:
        profile.lowercase_share = round(sum(text == text.lower() for text in lettered) / len(lettered), 3)
        profile.capitals_share = round(sum(mostly_capitals(text) for text in lettered) / len(lettered), 3)
    endings = Counter(ending(text) for text in texts)
    profile.endings = {name: round(count / len(texts), 3) for name, count in endings.most_common()}
    marks = Counter()
    for text in texts:
        marks.update(set(EMOJI.findall(text)) | set(EMOTICON.findall(text)))
    ranked = sorted(marks.items(), key=lambda item: (-item[1], item[0]))[:MAX_EMOJI]  # ties by text: reproducible
    profile.emoji = [mark for mark, count in ranked if count / len(texts) >= 0.04]
    profile.tone = tone(profile)
    return profile


def mostly_capitals(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return len(letters) >= 4 and sum(ch.isupper() for ch in letters) / len(letters) >= 0.7


def ending(text: str) -> str:
    stripped = EMOJI.sub("", EMOTICON.sub("", text)).rstrip()
    if stripped.endswith(("...", "…")):
        return "..."
    if stripped[-1:] in ("!", "?", "."):
        return stripped[-1]
    return "none"


def tone(profile: StyleProfile) -> str:
    endings = profile.endings
    if endings.get("!", 0) + profile.capitals_share >= 0.35:
        return "excitable"
    if endings.get("?", 0) >= 0.3:
        return "curious"
    if endings.get(".", 0) >= 0.4 and profile.lowercase_share < 0.3:
        return "formal"
    if profile.words_median <= 3:
        return "terse"
    if profile.lowercase_share >= 0.7:
        return "laid-back"
    return "easy-going"


def message_grams(texts: Sequence[str]) -> Counter:
    """n-gram (1-3 words) -> how many replies contain it (a reply counts once)."""
    counts = Counter()
    for text in texts:
        tokens = WORD.findall(text.lower().replace("\u2019", "'"))
        seen = set()
        for size in (1, 2, 3):
            for index in range(len(tokens) - size + 1):
                seen.add(" ".join(tokens[index:index + size]))
        counts.update(seen)
    return counts


def distinctive_grams(own: Counter, totals: Counter, replies: int) -> list[tuple[str, float]]:
    """n-grams by smoothed log-odds z-score of this persona against everyone else, most distinctive first."""
    floor = max(3, math.ceil(MIN_PHRASE_SHARE * replies))
    own_total, all_total = sum(own.values()) or 1, sum(totals.values()) or 1
    other_total = max(all_total - own_total, 1)
    scored = []
    for gram, count in own.items():
        if count < floor:
            continue
        other = totals[gram] - count
        log_odds = (math.log((count + PRIOR) / (own_total - count + PRIOR))
                    - math.log((other + PRIOR) / (other_total - other + PRIOR)))
        variance = 1 / (count + PRIOR) + 1 / (other + PRIOR)
        scored.append((gram, log_odds / math.sqrt(variance)))
    return sorted(scored, key=lambda item: (-item[1], item[0]))  # ties by text: the same data, the same line


def pick_phrases(distinctive: Sequence[tuple[str, float]]) -> list[str]:
    """The top phrases, skipping one contained in a phrase already picked (or containing it) and bare stopwords."""
    picked: list[str] = []
    # A longer n-gram says more about a voice than a word does: it is preferred at a somewhat lower score.
    ranked = sorted(((gram, score * (1 + LONGER_BONUS * gram.count(" "))) for gram, score in distinctive),
                    key=lambda item: (-item[1], item[0]))
    for gram, score in ranked:
        if score <= 1.0 or len(picked) >= MAX_PHRASES:
            break
        if all(token in STOPWORDS for token in gram.split()):
            continue
        if any(gram in chosen or chosen in gram or bigrams(gram) & bigrams(chosen) for chosen in picked):
            continue
        picked.append(gram[:PHRASE_TEXT_LIMIT])
    return picked


def bigrams(gram: str) -> set[tuple[str, str]]:
    tokens = gram.split()
    return set(zip(tokens, tokens[1:]))


def pick_topics(distinctive: Sequence[tuple[str, float]], phrases: Sequence[str]) -> list[str]:
    topics: list[str] = []
    for gram, score in distinctive:
        if score <= 1.0 or len(topics) >= MAX_TOPICS:
            break
        if " " in gram or len(gram) < 5 or gram in STOPWORDS or not gram.isalpha():
            continue
        if any(gram in phrase.split() for phrase in phrases):
            continue
        topics.append(gram)
    return topics


def example_candidates(texts: Sequence[str]) -> list[str]:
    """Lines fit to quote as examples of a voice: two words or more, one line, each text once, in order."""
    seen, found = set(), []
    for text in texts:
        line = " ".join(text.split())
        key = line.lower()
        if len(line.split()) >= 2 and len(line) <= EXAMPLE_CHARS and key not in seen:
            seen.add(key)
            found.append(line)
    return found


def pick_examples(candidates: Sequence[str], count: int, seed: int, exclude: str = "") -> list[str]:
    """``count`` of ``candidates`` chosen by ``seed``, never one equal to ``exclude`` (the example's own target:
    a model shown its answer in the prompt learns to copy, not to write like them)."""
    skip = " ".join(exclude.split()).lower()
    pool = [line for line in candidates if line.lower() != skip]
    if len(pool) <= count:
        return list(pool)
    return random.Random(seed).sample(pool, count)


def examples_text(lines: Sequence[str]) -> str:
    from core.prompting.quoting import quoted
    return ("Lines they wrote: " + " / ".join(quoted(line, EXAMPLE_CHARS) for line in lines) + ".") if lines else ""


def describe(profile: StyleProfile) -> str:
    """The one line the system message gets, e.g. 'Style: short messages (about 4 words); all lowercase; ...'."""
    if not profile.replies:
        return ""
    parts = [length_phrase(profile.words_median)]
    if profile.capitals_share >= 0.2:
        parts.append("often writes in CAPITALS")
    elif profile.lowercase_share >= 0.7:
        parts.append("all lowercase")
    elif profile.lowercase_share <= 0.2:
        parts.append("proper capitalisation")
    parts.append(ending_phrase(profile.endings))
    if profile.emoji:
        parts.append("often uses " + " ".join(profile.emoji))
    if profile.phrases:
        parts.append("says things like " + ", ".join(f'"{phrase}"' for phrase in profile.phrases))
    if profile.topics:
        parts.append("talks about " + ", ".join(profile.topics))
    if profile.tone:
        parts.append(f"tone: {profile.tone}")
    line = "Style: " + "; ".join(part for part in parts if part) + "."
    return f"{line} {examples_text(profile.examples)}" if profile.examples else line


def length_phrase(median: float) -> str:
    words = max(1, round(median))
    size = "very short" if words <= 3 else "short" if words <= 8 else "medium-length" if words <= 16 else "long"
    return f"{size} messages (about {words} word{'s' if words != 1 else ''})"


def ending_phrase(endings: Mapping[str, float]) -> str:
    if not endings:
        return ""
    top, share = max(endings.items(), key=lambda item: item[1])
    if top == "none":
        return "rarely ends with punctuation" if share >= 0.6 else ""
    names = {".": "full stops", "!": "exclamation marks", "?": "questions", "...": "trailing dots"}
    return f"ends lines with {names[top]}" if share >= 0.3 else ""
