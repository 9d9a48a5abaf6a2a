"""The fictional regulars of the sample server "Moonbase Cafe": who they are and how each one writes.

Everything here is invented for the demo (no real person's messages). Each persona has phrase templates per
conversational intent plus a style pass (casing, punctuation, emoji), so that their voices are easy to tell apart
in the demo's output and a small LoRA has something distinct to learn. Templates take ``{thing}`` (a topic noun)
and ``{name}`` (someone else in the conversation).
"""
from __future__ import annotations

import random

# Topic -> nouns that fill {thing}. Invented games, books and places only.
TOPICS = {
    "games": ["Starfall Tactics", "Cozy Valley", "Hexbound", "Dungeon Lanterns", "Turbo Goats", "the raid boss",
              "the new patch", "ranked mode"],
    "food": ["ramen", "matcha", "cinnamon rolls", "dumplings", "earl grey", "tacos", "the bakery on 5th",
             "homemade pizza"],
    "art": ["watercolours", "the moss sketch", "ink drawings", "the zine", "linocut prints", "the mural",
            "charcoal studies", "the colour palette"],
    "tech": ["the new keyboard", "my GPU", "the home server", "a switch swap", "the router", "linux on the laptop",
             "the soldering kit", "a 3d printer"],
    "weekend": ["the hike", "the farmers market", "movie night", "the beach trip", "the board game cafe",
                "the night market", "the lake", "a picnic"],
    "books": ["The Glass Orchard", "Salt and Starlight", "a mystery novel", "the sci-fi anthology",
              "the poetry collection", "Lanterns of Vel"],
    "pets": ["my cat Biscuit", "the neighbour's corgi", "a very loud parrot", "the hamster", "the new kitten",
             "the pond frogs"],
}

# Which topics each channel hosts, and who hangs out there most (weights).
CHANNELS = {
    "general": {"topics": ["food", "weekend", "pets", "books"],
                "weights": {"pixel": 3, "marguerite": 3, "bolt": 2, "juniper": 3, "ruckus": 3, "wren": 3}},
    "gaming": {"topics": ["games", "tech"],
               "weights": {"pixel": 5, "marguerite": 1, "bolt": 4, "juniper": 1, "ruckus": 4, "wren": 2}},
    "art-corner": {"topics": ["art", "books", "pets"],
                   "weights": {"pixel": 1, "marguerite": 3, "bolt": 1, "juniper": 5, "ruckus": 1, "wren": 4}},
}


def _lowercase(text: str) -> str:
    return text.lower()


def _identity(text: str) -> str:
    return text


PERSONAS = {
    "pixel": {
        "name": "pixelpanda", "nickname": "Pixel",
        "style": _lowercase, "emoji": ["🎮", "😂", "💀", "lol", "lmao", "🐼"], "emoji_rate": 0.55,
        "open": ["ok who else is playing {thing} rn", "omg {thing} is actually so good", "ngl {thing} lives in my head",
                 "just tried {thing} and im obsessed", "hot take: {thing} is peak", "anyone tried {thing} yet??"],
        "ask": ["wait is {thing} worth it", "how long did {thing} take u", "{name} have u tried {thing}",
                "what do u think of {thing}", "is {thing} hard or am i bad"],
        "answer": ["yesss {thing} goes hard", "omg same", "literally me with {thing}",
                   "ngl i stayed up till 3 for {thing}", "ok but {thing} tho", "{name} ur so right",
                   "bro {thing} is the best part", "no bc why is {thing} so fun"],
        "disagree": ["nahhh {thing} is mid", "hard disagree {name}", "ok but hear me out, {thing} isn't that deep",
                     "{name} respectfully what"],
        "joke": ["me pretending i didnt spend 6 hours on {thing}", "my sleep schedule vs {thing}",
                 "{thing} owns me now", "i would fight a goose for {thing}"],
        "short": ["lol", "omg", "real", "lmaooo", "same", "W", "fr fr", "no way"],
        "greet": ["heyyy", "yo", "hiii everyone", "gm gamers"],
        "bye": ["ok gtg dinner", "brb", "night yall", "logging off byeee"],
    },
    "marguerite": {
        "name": "marguerite.reads", "nickname": "Marguerite",
        "style": _identity, "emoji": ["🍵"], "emoji_rate": 0.08,
        "open": ["I must say, {thing} has been a lovely surprise this week.",
                 "Has anyone else been following {thing}?", "I finally made time for {thing}, and I have thoughts.",
                 "A small recommendation: {thing}. Truly worth it.",
                 "Good evening, all. I have been meaning to ask about {thing}."],
        "ask": ["Do tell, {name}: what did you make of {thing}?", "Would you recommend {thing} to a beginner?",
                "I am curious whether {thing} holds up on a second try.", "{name}, how did you come across {thing}?"],
        "answer": ["Indeed. {thing} is quietly excellent.", "I quite agree with {name}.",
                   "{thing} rewards patience, in my experience.",
                   "That is a fair point, though I would add that {thing} improves with time.",
                   "Precisely my thoughts, {name}.", "I found {thing} rather charming, actually."],
        "disagree": ["I am afraid I must disagree, {name}.", "With respect, {thing} is somewhat overrated.",
                     "I am not entirely convinced by {thing}, I confess."],
        "joke": ["One does not simply ignore {thing}.", "I shall pretend I did not hear that, {name}.",
                 "A cup of tea and {thing}: a perfect evening."],
        "short": ["Indeed.", "Quite so.", "How lovely.", "Noted.", "Splendid.", "Oh dear."],
        "greet": ["Good morning, everyone.", "Good evening, all.", "Hello, dear friends."],
        "bye": ["I must be off. Good night, all.", "Time for tea. Until tomorrow.", "Goodbye for now."],
    },
    "bolt": {
        "name": "bolt_", "nickname": "Bolt",
        "style": _lowercase, "emoji": [], "emoji_rate": 0.0,
        "open": ["{thing} arrived", "swapped {thing} today", "{thing} benchmarks are out", "anyone running {thing}"],
        "ask": ["specs?", "which version of {thing}", "{name} you flash the firmware", "price?", "{thing} on sale?"],
        "answer": ["ye", "works fine", "{thing} is fine", "nah just update it", "{thing} runs cool",
                   "did that, no issues", "check the cable", "ye {thing} is good", "it's the drivers", "try a reboot"],
        "disagree": ["nah", "no", "{thing} is overpriced", "disagree"],
        "joke": ["have you tried turning {thing} off", "{thing} go brrr"],
        "short": ["k", "ye", "nah", "ok", "same", "true", "+1", "lol"],
        "greet": ["yo", "hey"],
        "bye": ["afk", "later"],
    },
    "juniper": {
        "name": "juniper.moss", "nickname": "Juniper",
        "style": _identity, "emoji": ["✨", "🌿", "🌸", "~", "🥺"], "emoji_rate": 0.7,
        "open": ["finished {thing} today", "omg look at {thing}, it's so soft", "been playing with {thing} all morning",
                 "tiny update on {thing}", "i think {thing} is my new comfort thing"],
        "ask": ["ooh {name} do you have pics of {thing}?", "what colours would you use for {thing}?",
                "is {thing} cozy?", "can i see {thing}??"],
        "answer": ["aaa that's so pretty", "{name} this is lovely", "i love {thing} so much", "{thing} is such a vibe",
                   "that sounds so cozy", "ok {thing} made my whole day", "this is so gentle and nice"],
        "disagree": ["hmm i don't know, {thing} feels a bit loud to me", "i'm not sure about {thing} tbh"],
        "joke": ["{thing} but make it a plant", "me, a simple creature: {thing}", "watering my plants and {thing}"],
        "short": ["aww", "so cute", "yay", "omg", "hehe", "soft", "cozy"],
        "greet": ["good morning friends", "hiii", "hello hello"],
        "bye": ["going to water the plants, bye", "sleepy, goodnight", "off to draw, see you"],
    },
    "ruckus": {
        "name": "captain_ruckus", "nickname": "Captain Ruckus",
        "style": _identity, "emoji": ["🏴‍☠️", "⚓", "!!!", "ARRR"], "emoji_rate": 0.6,
        "open": ["AHOY CREW, who's up for {thing}", "Mateys! {thing} awaits!", "ALL HANDS ON DECK for {thing}",
                 "I have sailed the seas of {thing} and returned VICTORIOUS"],
        "ask": ["{name}, will ye join me for {thing}?", "WHO DARES to skip {thing}?",
                "Is {thing} worth the plunder, mateys?", "{name} what say ye about {thing}"],
        "answer": ["AYE!", "Aye aye, {name}!", "{thing} is a treasure, mark my words", "YARR that's the spirit",
                   "Now THAT is worth the voyage", "Hoist the sails, {name} speaks truth"],
        "disagree": ["NAY! {thing} is for landlubbers", "{name}, walk the plank for that opinion", "Blasphemy!"],
        "joke": ["I'd trade my parrot for {thing}", "{thing}? in THIS economy?", "Me ship sank but {thing} remains"],
        "short": ["ARRR", "AYE", "YARR!", "HA!", "Ahoy!", "LOL"],
        "greet": ["AHOY!", "Ahoy mateys!", "The Captain has arrived!"],
        "bye": ["The Captain sails to bed. FAREWELL", "Off to sea, mateys!", "ANCHORS UP, goodnight!"],
    },
    "wren": {
        "name": "wren.at.night", "nickname": "Wren",
        "style": _lowercase, "emoji": [":)", "...", "🌙"], "emoji_rate": 0.5,
        "open": ["been thinking about {thing}...", "it's 2am and {thing} makes more sense now",
                 "does anyone else feel like {thing} is kind of a metaphor", "quiet night. {thing}. that's it"],
        "ask": ["{name} what drew you to {thing}?", "do you think {thing} changes you a little",
                "why do we like {thing} so much, really", "is it weird that {thing} feels nostalgic"],
        "answer": ["yeah... {thing} has that effect", "i get that, {name}", "{thing} is like a small lighthouse",
                   "hm. that's true", "i like that way of putting it", "{thing} reminds me of rainy evenings"],
        "disagree": ["i don't know... {thing} feels hollow to me", "i see it differently, {name}"],
        "joke": ["{thing} at 3am hits different", "me and {thing} vs the void", "the moon also likes {thing} probably"],
        "short": ["hm", "yeah", "true...", "mhm", ":)", "same"],
        "greet": ["evening", "hi... couldn't sleep", "hello night people"],
        "bye": ["gonna try to sleep. night", "logging off... :)", "goodnight everyone"],
    },
}

# Occasional members with too few messages to become personas, and the server's bot.
MINOR_MEMBERS = {
    "sam": {"name": "newbie_sam", "nickname": "Sam",
            "lines": ["hi, new here!", "this server is nice", "what's {thing}?", "cool", "thanks!", "oh neat"]},
    "ollie": {"name": "ollie_lurks", "nickname": "Ollie",
              "lines": ["lurking as usual", "ha", "{thing} sounds fun", "nice"]},
}
BOT = {"name": "CafeBot", "nickname": "CafeBot",
       "lines": ["☕ Daily reminder: be kind, stay hydrated.", "📌 Weekly thread: share what you're working on!",
                 "🎲 Game night is Friday at 8pm server time.", "✨ Welcome to Moonbase Cafe! Read #rules first."]}

REACTIONS = [("😂", "joy"), ("👍", "thumbsup"), ("❤️", "heart"), ("🔥", "fire"), ("✨", "sparkles"),
             ("🍵", "tea"), ("🏴‍☠️", "pirate_flag"), ("🌙", "crescent_moon")]


def speak(persona_key: str, intent: str, thing: str, other_name: str, rng: random.Random) -> str:
    """One line in the persona's voice: a template for the intent, filled in, then their style pass."""
    persona = PERSONAS[persona_key]
    text = rng.choice(persona[intent]).format(thing=thing, name=other_name)
    if rng.random() < persona["emoji_rate"]:
        text = f"{text} {rng.choice(persona['emoji'])}"
    if persona_key == "ruckus" and rng.random() < 0.25:
        text = text.upper()  # the Captain's volume knob occasionally breaks
    if persona_key == "pixel" and rng.random() < 0.2:
        text += "!!" if not text.endswith("!") else "!"
    return persona["style"](text)
