"""Realistic synthetic DiscordChatExporter (DCE) JSON exports, for benchmarks and large-input tests.

``write_synthetic_export(folder, messages, seed)`` writes one guild's export the way DCE lays it out: a file per
channel plus thread files under ``_threads/``, 2-space indentation, the exact top-level and message keys of
DCE 2.4x. The content is shaped like a real server: long-tail (Zipf) authors including two bots, about 30% replies
(a few dangling), reactions with their users, unicode and emoji (non-BMP characters escaped as surrogate pairs the
way DCE's encoder does), both mention styles, system messages, edited and pinned messages, numeric-string types and
one channel exported with a non-UTC offset. Files are written streaming, so a million messages need little memory;
the same seed always gives the same bytes.

    python bench/synthetic.py OUT_DIR --messages 200000 [--seed 0]
"""
from __future__ import annotations

import argparse
import random
import sys
from collections import deque
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from pathlib import Path

import orjson

DISCORD_EPOCH_MS = 1_420_070_400_000
START_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z
MEAN_GAP_MS = 45_000  # a busy server: a message every 45 s on average across its channels
GUILD_ID, GUILD_NAME = 904_100_000_000_000_001, "Synthetic Guild 🌐"
INDENT = orjson.OPT_INDENT_2
WORDS = ("the and you that was for are with his they this have from one had word but not what all were when your "
         "can said there use each which she how their will other about out many then them these some her would "
         "make like him into time has look two more write see number way could people than first water been call "
         "who its now find long down day did get come made may part lol lmao ngl tbh idk gg brb fr "
         "café naïve über façade jalapeño smörgåsbord Ελληνικά русский 日本語 中文 한국어 עברית العربية हिन्दी").split()
EMOJI = ("🙂", "😂", "🔥", "👍", "❤️", "🎉", "🤖", "😭", "💀", "✨", "🚀", "👀", "🙏", "😅", "🤔")
ESCAPES = [(e.encode(), "".join(f"\\u{u:04X}" for u in _units).encode())
           for e in EMOJI
           for _units in [[int.from_bytes(e.encode("utf-16-be")[i:i + 2], "big")
                           for i in range(0, len(e.encode("utf-16-be")), 2)]]
           if any(ord(c) > 0xFFFF for c in e)]
CUSTOM_EMOJI = (("pepefloorcry", 921503115159691286), ("thisisfine", 962450296309678100), ("kekw", 771234567890123456))
CHANNELS = (("Text Channels", "general", 0.40, 0), ("Text Channels", "memes", 0.20, 0),
            ("Gaming", "minecraft", 0.15, 330), ("Off Topic", "random-chat", 0.15, 0))  # last: UTC offset in minutes


def snowflake(ms: int, counter: int) -> int:
    return ((ms - DISCORD_EPOCH_MS) << 22) | (counter & 0x3FFFFF)


def dce_timestamp(ms: int, offset_minutes: int) -> str:
    """DCE's timestamp shape: local offset, milliseconds with trailing zeros dropped."""
    moment = datetime.fromtimestamp(ms / 1000, timezone(timedelta(minutes=offset_minutes)))
    fraction = f"{ms % 1000:03d}".rstrip("0")
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%dT%H:%M:%S}{'.' + fraction if fraction else ''}{offset[:3]}:{offset[3:]}"


def make_users(rng: random.Random, count: int) -> list[dict]:
    users = []
    for rank in range(count):
        is_bot = rank in (3, 40)  # two bots with a real share of the traffic
        name = ("helperbot" if rank == 3 else "musicbot") if is_bot else f"user{rank}_{rng.choice(WORDS[:60])}"
        user = {"id": str(100_000_000_000_000_000 + rank * 7919), "name": name,
                "discriminator": "0000" if not is_bot else f"{rng.randint(1, 9999):04d}",
                "nickname": name if rng.random() < 0.5 else f"{rng.choice(WORDS).title()} {rng.choice(EMOJI)}",
                "color": rng.choice((None, "#E74C3C", "#3498DB", "#2ECC71")), "isBot": is_bot,
                "roles": [{"id": str(200_000_000_000_000_000 + r), "name": f"Role {r}", "color": "#3498DB",
                           "position": 50 - r} for r in range(rng.randint(0, 3))],
                "avatarUrl": f"https://cdn.discordapp.com/avatars/{rank}/{rng.getrandbits(64):016x}.png?size=512"}
        users.append(user)
    return users


class ChannelFile:
    """One export file being written: header now, messages as they come, the closing part at the end."""

    def __init__(self, path: Path, channel: dict, exported_at: str, offset_minutes: int):
        self.path, self.channel, self.offset = path, channel, offset_minutes
        self.count, self.buffer, self.recent = 0, [], deque(maxlen=64)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = path.open("wb")
        header = {"guild": {"id": str(GUILD_ID), "name": GUILD_NAME,
                            "iconUrl": "https://cdn.discordapp.com/icons/904100000000000001/abc.png?size=512"},
                  "channel": channel, "dateRange": {"after": None, "before": None}, "exportedAt": exported_at,
                  "messages": []}
        text = orjson.dumps(header, option=INDENT)
        self.handle.write(text[:text.rindex(b"[]")] + b"[\n")

    def add(self, message: dict) -> None:
        body = b"    " + orjson.dumps(message, option=INDENT).replace(b"\n", b"\n    ")
        self.buffer.append(body)
        self.count += 1
        self.recent.append(message)
        if len(self.buffer) >= 2000:
            self.flush(more=True)

    def flush(self, more: bool) -> None:
        if not self.buffer:
            return
        data = b",\n".join(self.buffer)
        for raw, escaped in ESCAPES:
            data = data.replace(raw, escaped)
        self.handle.write(data + (b",\n" if more else b""))
        self.buffer.clear()

    def close(self) -> None:
        if self.buffer:
            self.flush(more=False)
        elif self.count:  # the last flush left a separator behind: take it back
            self.handle.seek(-2, 2)
            self.handle.truncate()
        self.handle.write(b"\n  ],\n  \"messageCount\": %d\n}\n" % self.count)
        self.handle.close()


class Generator:
    def __init__(self, folder: Path, messages: int, seed: int):
        self.rng = random.Random(seed)
        self.total, self.counter, self.now = messages, 0, START_MS
        self.users = make_users(self.rng, max(30, min(20_000, messages // 100)))
        self.cum_weights = list(accumulate(1 / (rank + 1) for rank in range(len(self.users))))
        exported_at = dce_timestamp(START_MS + messages * MEAN_GAP_MS + 3_600_000, 0)
        self.files, self.weights = [], []
        for index, (category, name, share, offset) in enumerate(CHANNELS):
            channel = {"id": str(snowflake(START_MS - 10**9, index)), "type": "GuildTextChat",
                       "categoryId": str(snowflake(START_MS - 2 * 10**9, index)), "category": category,
                       "name": name, "topic": None if index else "Welcome! Be nice 🙂"}
            path = folder / f"{GUILD_NAME} - {category} - {name} [{channel['id']}].json"
            self.files.append(ChannelFile(path, channel, exported_at, offset))
            self.weights.append(share)
        threads = min(40, max(2, messages // 25_000))
        for index in range(threads):
            parent = self.files[index % 2]
            channel = {"id": str(snowflake(START_MS - 10**8, 100 + index)),
                       "type": ("GuildPublicThread", "GuildPrivateThread", "GuildNewsThread")[index % 3],
                       "categoryId": parent.channel["id"], "category": parent.channel["name"],
                       "name": f"thread {index} {self.rng.choice(EMOJI)}", "topic": None}
            name = f"{GUILD_NAME} - {parent.channel['name']} - thread {index} [{channel['id']}].json"
            path = folder / "_threads" / name
            self.files.append(ChannelFile(path, channel, exported_at, 0))
            self.weights.append(0.10 / threads)
        self.thread_parent = {f.channel["id"]: self.files[i % 2] for i, f in enumerate(self.files[len(CHANNELS):])}

    def run(self) -> list[Path]:
        rng, choices = self.rng, self.rng.choices
        while self.counter < self.total:
            block = min(1000, self.total - self.counter)
            targets = choices(self.files, self.weights, k=block)
            authors = choices(self.users, cum_weights=self.cum_weights, k=block)
            for target, author in zip(targets, authors):
                self.now += 1 + int(rng.expovariate(1 / MEAN_GAP_MS))
                if target.count == 0 and target.channel["id"] in self.thread_parent and self.counter < self.total - 1:
                    parent = self.thread_parent[target.channel["id"]]
                    self.emit(parent, self.system(parent, author, "ThreadCreated", None, target.channel["id"]))
                self.emit(target, self.message(target, author))
                if self.counter >= self.total:
                    break
        for channel_file in self.files:
            channel_file.close()
        return [f.path for f in self.files]

    def emit(self, target: ChannelFile, message: dict) -> None:
        target.add(message)
        self.counter += 1

    def base(self, target: ChannelFile, author: dict, kind: str, content: str) -> dict:
        self.now += 1
        return {"id": str(snowflake(self.now, self.counter)), "type": kind,
                "timestamp": dce_timestamp(self.now, target.offset), "timestampEdited": None,
                "callEndedTimestamp": None, "isPinned": False, "content": content, "author": author,
                "attachments": [], "embeds": [], "stickers": [], "reactions": [], "mentions": []}

    def system(self, target: ChannelFile, author: dict, kind: str, message_id: str | None = None,
               channel_id: str | None = None) -> dict:
        content = {"ThreadCreated": "Started a thread.", "GuildMemberJoin": "Joined the server.",
                   "ChannelPinnedMessage": "Pinned a message."}[kind]
        message = self.base(target, author, kind, content)
        if kind != "GuildMemberJoin":  # a thread start points at the thread, a pin notice at the pinned message
            message["reference"] = {"messageId": message_id, "channelId": channel_id or target.channel["id"],
                                    "guildId": str(GUILD_ID)}
        message["inlineEmojis"] = []
        return message

    def message(self, target: ChannelFile, author: dict) -> dict:
        rng = self.rng
        roll = rng.random()
        if roll < 0.006:
            return self.system(target, author, "GuildMemberJoin")
        if roll < 0.008 and target.recent:
            return self.system(target, author, "ChannelPinnedMessage", target.recent[-1]["id"])
        words = choices_text(rng, 1 + int(rng.expovariate(1 / 9)))
        message = self.base(target, author, "Default", words)
        if author["isBot"] and rng.random() < 0.3:
            message["type"] = "20"  # a slash-command reply: DCE writes unknown types as numeric strings
        if rng.random() < 0.30 and target.recent:
            replied = target.recent[-1 - min(len(target.recent) - 1, int(rng.expovariate(0.25)))]
            dangling = rng.random() < 0.02
            message["type"] = "Reply"
            message["reference"] = {"messageId": str(int(replied["id"]) - 1) if dangling else replied["id"],
                                    "channelId": target.channel["id"], "guildId": str(GUILD_ID)}
        self.decorate(message, rng)
        return message

    def decorate(self, message: dict, rng: random.Random) -> None:
        if rng.random() < 0.10:
            user = self.users[rng.randrange(len(self.users))]
            style = rng.random()
            if style < 0.6:  # DCE's rendering: @DisplayName in the text, the user in `mentions`
                message["content"] = f"@{user['nickname']} {message['content']}"
            else:  # raw markup, as bot-fetched content carries it
                message["content"] = f"<@{'!' if style < 0.8 else ''}{user['id']}> {message['content']}"
            message["mentions"].append({k: user[k] for k in ("id", "name", "discriminator", "nickname", "color",
                                                              "isBot", "roles", "avatarUrl")})
            if rng.random() < 0.1:
                message["content"] += f" see <#{self.files[1].channel['id']}> <@&{200_000_000_000_000_000}>"
        if rng.random() < 0.05:
            message["timestampEdited"] = dce_timestamp(self.now + rng.randint(5_000, 900_000), 0)
            message["content"] += " (edited)"
        if rng.random() < 0.04:
            attachment_id = snowflake(self.now, self.counter + 1)
            message["attachments"].append({"id": str(attachment_id), "fileName": "image.png",
                                           "url": f"https://cdn.discordapp.com/attachments/1/{attachment_id}/image.png",
                                           "fileSizeBytes": rng.randint(1_000, 5_000_000)})
            if rng.random() < 0.3:
                message["content"] = ""  # an image with no text
        if rng.random() < 0.02:
            message["embeds"].append({"title": "", "url": "https://example.com/article", "timestamp": None,
                                      "description": "An article", "thumbnail": None, "images": [], "fields": [],
                                      "inlineEmojis": []})
        if rng.random() < 0.18:  # Discord folds repeats of one emoji into one reaction
            reactions = {}
            for _ in range(1 + int(rng.expovariate(1.5))):
                reaction = self.reaction(rng)
                reactions.setdefault(reaction["emoji"]["name"], reaction)
            message["reactions"] = list(reactions.values())
        if rng.random() < 0.003:
            message["isPinned"] = True
        emoji = [e for e in EMOJI if e in message["content"]]
        message["inlineEmojis"] = [{"id": "", "name": e, "code": "emoji", "isAnimated": False,
                                    "imageUrl": "https://cdn.jsdelivr.net/gh/twitter/twemoji@latest/assets/svg/x.svg"}
                                   for e in emoji[:3]]

    def reaction(self, rng: random.Random) -> dict:
        count = 1 + int(rng.expovariate(0.5))
        if rng.random() < 0.75:
            emoji = {"id": "", "name": rng.choice(EMOJI), "code": "emoji", "isAnimated": False,
                     "imageUrl": "https://cdn.jsdelivr.net/gh/twitter/twemoji@latest/assets/svg/1f525.svg"}
        else:
            name, emoji_id = rng.choice(CUSTOM_EMOJI)
            emoji = {"id": str(emoji_id), "name": name, "isAnimated": name == "kekw",
                     "imageUrl": f"https://cdn.discordapp.com/emojis/{emoji_id}.png"}
        users = [self.users[rng.randrange(len(self.users))] for _ in range(min(count, 3))]
        return {"emoji": emoji, "count": count,
                "users": [{k: u[k] for k in ("id", "name", "discriminator", "nickname", "color", "isBot",
                                             "avatarUrl")} for u in users]}


def choices_text(rng: random.Random, count: int) -> str:
    words = rng.choices(WORDS, k=count)
    if rng.random() < 0.25:
        words.insert(rng.randrange(len(words) + 1), rng.choice(EMOJI))
    text = " ".join(words)
    if rng.random() < 0.05:
        text += "\nand another line, with \"quotes\" and a \\ backslash"
    return text


def write_synthetic_export(folder: Path, messages: int, seed: int = 0) -> list[Path]:
    """Write a DCE export of ``messages`` messages (threads included) into ``folder``; return the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return Generator(folder, messages, seed).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a realistic synthetic DiscordChatExporter JSON export.")
    parser.add_argument("out_dir", type=Path, help="folder to write the export into")
    parser.add_argument("--messages", type=int, default=200_000, help="number of messages (default 200000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files")
    args = parser.parse_args(argv)
    paths = write_synthetic_export(args.out_dir, args.messages, args.seed)
    size = sum(path.stat().st_size for path in paths)
    print(f"wrote {args.messages} messages in {len(paths)} files ({size / 1e6:.1f} MB) to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
