"""Generates the fictional sample server "Moonbase Cafe" as a DiscordChatExporter JSON export.

``python assets/sample_server/generate.py [--out DIR] [--seed N] [--messages N]`` rewrites ``export/`` next to this
file. The output is deterministic for a seed (the committed files are what seed 7 gives; tests regenerate and
compare), has the same shape as real DCE exports (one file per channel, thread files whose category names the parent
channel, replies as type "Reply" with a reference, reactions with their users, mentions, system messages, a bot),
and holds about 2,000 messages by a handful of invented regulars with distinct voices (see voices.py).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from voices import BOT, CHANNELS, MINOR_MEMBERS, PERSONAS, REACTIONS, TOPICS, speak  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "export"
DEFAULT_SEED = 7
DEFAULT_MESSAGES = 2000
GUILD = {"id": "1200000000000000001", "name": "Moonbase Cafe"}
CATEGORY_ID = "1200000000000000002"
CHANNEL_IDS = {"general": "1200000000000000010", "gaming": "1200000000000000011", "art-corner": "1200000000000000012"}
THREADS = [("gaming", "Starfall raid night", "games"), ("art-corner", "Plant swap 🌿", "art")]
START = datetime(2024, 2, 5, 17, 0, tzinfo=timezone.utc)
DISCORD_EPOCH_MS = 1420070400000
EXPORTED_AT = "2024-05-01T12:00:00.0000000+00:00"
# Intent weights for a turn that is not answering a question; a question is answered most of the time.
INTENT_WEIGHTS = {"answer": 35, "short": 18, "ask": 15, "joke": 12, "disagree": 8}


def user_ids() -> dict[str, str]:
    keys = list(PERSONAS) + list(MINOR_MEMBERS) + ["bot"]
    return {key: str(1210000000000000000 + 1000 * (index + 1)) for index, key in enumerate(keys)}


class ServerWriter:
    """Collects messages per channel with realistic snowflake ids and DCE-shaped records."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.ids = user_ids()
        self.channels: dict[str, dict] = {}
        self.sequence = 0
        self.count = 0

    def author(self, key: str) -> dict:
        info = PERSONAS.get(key) or MINOR_MEMBERS.get(key) or BOT
        return {"id": self.ids[key], "name": info["name"], "discriminator": "0000", "nickname": info["nickname"],
                "color": None, "isBot": key == "bot", "avatarUrl": f"avatars/{info['name']}.png"}

    def snowflake(self, moment: datetime) -> str:
        self.sequence = (self.sequence + 1) % 4096
        return str(((int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22) | self.sequence)

    def add(self, channel: str, key: str, moment: datetime, content: str, *, kind: str = "Default",
            reply_to: dict | None = None, mention: str | None = None) -> dict:
        record = {
            "id": self.snowflake(moment), "type": "Reply" if reply_to else kind,
            "timestamp": moment.isoformat(timespec="milliseconds"), "timestampEdited": None,
            "callEndedTimestamp": None, "isPinned": False, "content": content, "author": self.author(key),
            "attachments": [], "embeds": [], "stickers": [], "reactions": [], "mentions": [], "inlineEmojis": [],
        }
        if mention:
            record["mentions"].append({k: v for k, v in self.author(mention).items() if k != "avatarUrl"})
        if reply_to:
            record["reference"] = {"messageId": reply_to["id"], "channelId": self.channels[channel]["channel"]["id"],
                                   "guildId": GUILD["id"]}
        self.channels[channel]["messages"].append(record)
        self.count += 1
        return record

    def react(self, record: dict, emoji_index: int, reactor_keys: list[str]) -> None:
        name, code = REACTIONS[emoji_index]
        record["reactions"].append({
            "emoji": {"id": "", "name": name, "code": code, "isAnimated": False, "imageUrl": f"emoji/{code}.svg"},
            "count": len(reactor_keys),
            "users": [{k: v for k, v in self.author(key).items() if k != "avatarUrl"} for key in reactor_keys]})


def open_channel(writer: ServerWriter, key: str, name: str, *, parent: str | None = None) -> None:
    if parent:
        channel = {"id": key, "type": "GuildPublicThread", "categoryId": CHANNEL_IDS[parent], "category": parent,
                   "name": name, "topic": None}
    else:
        channel = {"id": CHANNEL_IDS[name], "type": "GuildTextChat", "categoryId": CATEGORY_ID,
                   "category": "Text Channels", "name": name, "topic": f"the {name} channel of Moonbase Cafe"}
    writer.channels[key] = {"channel": channel, "messages": []}


def pick_speakers(rng: random.Random, weights: dict[str, int], count: int) -> list[str]:
    keys = list(weights)
    chosen: list[str] = []
    while len(chosen) < count:
        key = rng.choices(keys, weights=[weights[k] for k in keys])[0]
        if key not in chosen:
            chosen.append(key)
    return chosen


def conversation(writer: ServerWriter, channel_key: str, topic: str, weights: dict, moment: datetime) -> datetime:
    """One conversation: an opener, then turns that answer, ask, joke and disagree; returns when it ended."""
    rng = writer.rng
    speakers = pick_speakers(rng, weights, rng.choice([2, 3, 3, 4]))
    thing = rng.choice(TOPICS[topic])
    history: list[tuple[str, str, dict]] = []  # (speaker, intent, record)
    if rng.random() < 0.2:
        history.append((speakers[0], "greet", writer.add(channel_key, speakers[0], moment,
                                                           speak(speakers[0], "greet", thing, "", rng))))
        moment += timedelta(seconds=rng.randint(20, 200))
    first = writer.add(channel_key, speakers[0], moment, speak(speakers[0], "open", thing, "", rng))
    history.append((speakers[0], "open", first))
    for _ in range(rng.randint(5, 16)):
        moment += timedelta(seconds=rng.randint(15, 400))
        last_speaker, _, last_record = history[-1]
        if rng.random() < 0.07:  # a quick double post by the same person (merged into one turn by prepare)
            speaker, intent, target = last_speaker, "short", None
            moment = datetime.fromisoformat(last_record["timestamp"]) + timedelta(seconds=rng.randint(5, 90))
        else:
            speaker = rng.choice([s for s in speakers if s != last_speaker])
            target_index = len(history) - 1 if rng.random() < 0.85 else rng.randrange(len(history))
            target_speaker, target_intent, target = history[target_index]
            if target_intent == "ask" and target_speaker != speaker and rng.random() < 0.85:
                intent = "answer"
            else:
                intent = rng.choices(list(INTENT_WEIGHTS), weights=list(INTENT_WEIGHTS.values()))[0]
            if target_index == len(history) - 1 and rng.random() >= 0.2:
                target = None  # answering the message just above needs no explicit reply link
            last_speaker = target_speaker
        if rng.random() < 0.15:
            thing = rng.choice(TOPICS[topic])  # the talk drifts within the topic
        other = PERSONAS[last_speaker]["nickname"]
        mention = last_speaker if (speaker != last_speaker and rng.random() < 0.05) else None
        text = speak(speaker, intent, thing, other, rng)
        if mention:
            text = f"@{PERSONAS[mention]['nickname']} {text}"
        record = writer.add(channel_key, speaker, moment, text, reply_to=target, mention=mention)
        history.append((speaker, intent, record))
        maybe_react(writer, record, intent, speakers, speaker)
    if rng.random() < 0.3:
        speaker = rng.choice(speakers)
        moment += timedelta(seconds=rng.randint(30, 300))
        writer.add(channel_key, speaker, moment, speak(speaker, "bye", thing, "", rng))
    return moment


def maybe_react(writer: ServerWriter, record: dict, intent: str, speakers: list[str], author: str) -> None:
    rng = writer.rng
    if rng.random() >= (0.4 if intent == "joke" else 0.12):
        return
    others = [s for s in speakers if s != author] or list(PERSONAS)
    for emoji_index in rng.sample(range(len(REACTIONS)), rng.choice([1, 1, 2])):
        writer.react(record, emoji_index, rng.sample(others, rng.randint(1, len(others))))


def sprinkle_extras(writer: ServerWriter, moment: datetime, day: int) -> None:
    """Minor members and the bot speak now and then in #general (they are never personas)."""
    rng = writer.rng
    if day % 5 == 0:
        writer.add("general", "bot", moment - timedelta(minutes=40), rng.choice(BOT["lines"]))
    for key, info in MINOR_MEMBERS.items():
        if rng.random() < (0.25 if key == "sam" else 0.1):
            thing = rng.choice(TOPICS["food"] + TOPICS["games"])
            writer.add("general", key, moment - timedelta(minutes=rng.randint(5, 30)),
                       rng.choice(info["lines"]).format(thing=thing))


def generate(seed: int = DEFAULT_SEED, messages: int = DEFAULT_MESSAGES) -> dict[str, dict]:
    """The whole server in memory (it is small): channel key -> DCE document without file framing."""
    writer = ServerWriter(random.Random(seed))
    for name in CHANNEL_IDS:
        open_channel(writer, name, name)
    for index, key in enumerate(list(PERSONAS) + list(MINOR_MEMBERS)):
        writer.add("general", key, START + timedelta(minutes=index), "Joined the server.", kind="GuildMemberJoin")
    day = 0
    while writer.count < messages:
        day += 1
        evening = START + timedelta(days=day, minutes=writer.rng.randint(0, 120))
        sprinkle_extras(writer, evening, day)
        moment = evening
        for _ in range(writer.rng.choice([2, 3, 3, 4])):
            channel = writer.rng.choice(list(CHANNELS))
            ended = conversation(writer, channel, writer.rng.choice(CHANNELS[channel]["topics"]),
                                 CHANNELS[channel]["weights"], moment)
            moment = ended + timedelta(minutes=writer.rng.randint(40, 120))  # a lull: the next talk is a new one
        if day in (9, 23):  # open a thread: its starter message lives in the parent channel
            add_thread(writer, THREADS[0 if day == 9 else 1], evening + timedelta(hours=7))
    finish(writer)
    return writer.channels


def add_thread(writer: ServerWriter, spec: tuple[str, str, str], moment: datetime) -> None:
    parent, name, topic = spec
    starter = writer.add(parent, "pixel" if parent == "gaming" else "juniper", moment, "Started a thread.",
                         kind="ThreadCreated")
    thread_id = starter["id"]  # Discord gives a thread the id of the message that started it
    open_channel(writer, thread_id, name, parent=parent)
    for round_index in range(6):
        conversation(writer, thread_id, topic, CHANNELS[parent]["weights"],
                     moment + timedelta(days=round_index * 3, minutes=5))


def finish(writer: ServerWriter) -> None:
    """Chronological order per channel, a pinned message and a few edits, as real exports have."""
    rng = writer.rng
    for document in writer.channels.values():
        document["messages"].sort(key=lambda record: int(record["id"]))
    general = writer.channels["general"]["messages"]
    pinned = next(record for record in general if record["author"]["isBot"])
    pinned["isPinned"] = True
    for record in rng.sample(general, 12):
        if record["type"] in ("Default", "Reply"):
            edited = datetime.fromisoformat(record["timestamp"]) + timedelta(minutes=rng.randint(1, 30))
            record["timestampEdited"] = edited.isoformat(timespec="milliseconds")


def file_name(document: dict) -> str:
    channel = document["channel"]
    category = channel["category"] if channel["type"].endswith("Thread") else "Text Channels"
    return f"{GUILD['name']} - {category} - {channel['name']} [{channel['id']}].json"


def write_export(channels: dict[str, dict], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.json"):
        stale.unlink()
    paths = []
    for document in channels.values():
        full = {"guild": {**GUILD, "iconUrl": "guild-icon.png"}, "channel": document["channel"],
                "dateRange": {"after": None, "before": None}, "exportedAt": EXPORTED_AT,
                "messages": document["messages"], "messageCount": len(document["messages"])}
        path = out / file_name(document)
        path.write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n", encoding="utf-8", newline="\n")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--messages", type=int, default=DEFAULT_MESSAGES, help="stop after about this many")
    args = parser.parse_args(argv)
    paths = write_export(generate(args.seed, args.messages), args.out)
    total = sum(len(json.loads(p.read_text(encoding="utf-8"))["messages"]) for p in paths)
    print(f"wrote {len(paths)} files, {total} messages to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
