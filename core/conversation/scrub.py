"""Personal-data scrubbing: every text that reaches an output passes through ``Scrubber.scrub``.

Each kind has its own regular expression behind a cheap gate (a substring or character-count test), because almost
every Discord line contains none of them and a single alternation of a dozen patterns costs ~25 µs a message, which
alone would blow the prepare budget on a million messages. Kinds run in a fixed order so that the more specific shape
wins: credentials in ``https://user:pass@host`` before the e-mail-like ``pass@host``, a JWT inside a query string as a
query secret, cards before phones. Ambiguous kinds are validated in code (Luhn for cards, ``ipaddress`` for IPv6,
digit counts for phones, value shape for ``password: ...``). Each hit becomes a typed placeholder (``[EMAIL]``...);
counts per kind feed the dataset stats.
"""
from __future__ import annotations

import ipaddress
import re
from collections import Counter

PLACEHOLDERS = {
    "private_key": "[PRIVATE_KEY]", "webhook": "[WEBHOOK]", "url_credentials": "[CREDENTIALS]",
    "url_secret": "[SECRET]", "jwt": "[JWT]", "discord_token": "[DISCORD_TOKEN]", "api_key": "[API_KEY]",
    "secret": "[SECRET]", "email": "[EMAIL]", "card": "[CARD]", "phone": "[PHONE]", "ipv4": "[IP]", "ipv6": "[IP]",
}

PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]{0,20}PRIVATE KEY-----|$)",
                         re.IGNORECASE)
WEBHOOK = re.compile(r"https?://(?:[\w-]+\.)?(?:discord(?:app)?\.com/api/webhooks|hooks\.slack\.com/services)/[\w/-]+",
                     re.IGNORECASE)
URL_CREDENTIALS = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{1,15}://)[^\s/@:?#]+(?::[^\s/@?#]*)?@")
URL_SECRET = re.compile(r"([?&;#][\w.-]*?(?:token|key|secret|passw(?:or)?d|pwd|pass|auth|sig(?:nature)?|session|sid"
                        r"|code|credential)[\w.-]*=)[^&#\s]+", re.IGNORECASE)
JWT = re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")
DISCORD_TOKEN = re.compile(r"\b[MNO][\w-]{23,27}\.[\w-]{6,7}\.[\w-]{27,40}\b|\bmfa\.[\w-]{60,}")
API_KEY = re.compile(r"\bsk-(?:proj-|ant-)?[\w-]{20,}|\b[spr]k_(?:live|test)_[A-Za-z0-9]{16,}"
                     r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_\w{30,}|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
                     r"|\bxox[abposre]-[A-Za-z0-9-]{10,}|\bAIza[\w-]{30,}|\bglpat-[\w-]{20,}|\bhf_[A-Za-z0-9]{30,}"
                     r"|\bnpm_[A-Za-z0-9]{36}|\bSG\.[\w-]{22}\.[\w-]{43}")
SECRET = re.compile(r"\b((?:passw(?:or)?d|pwd|passcode|secret|api[_ -]?key|access[_ -]?token|auth[_ -]?token|token"
                    r"|client[_ -]?secret)(?:\s*[:=]\s*|\s+is\s+))([^\s,;]{4,})", re.IGNORECASE)
SECRET_GATE = re.compile("pass|pwd|secret|key|token")  # searched in the lower-cased text
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
CARD = re.compile(r"\d(?<![\d-]\d)(?:[ -]?\d){12,18}(?![\d-])")
PHONE = re.compile(r"\+(?<![\w+]\+)\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\w)"
                   r"|\((?<!\w\()\d{2,4}\)[ .-]?\d{3,4}[ .-]?\d{3,4}(?![\w-])"
                   r"|\d(?<![\w.-]\d)\d{2}[ .-]\d{3}[ .-]\d{4}(?![\w-]|\.\d)"
                   r"|0(?<![\w.-]0)\d{2,4}[ /-]\d{3,4}[ -]?\d{3,4}(?![\w-]|\.\d)")
IPV4 = re.compile(r"\d(?<![\d.]\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?!\d|\.\d)")
IPV6 = re.compile(r"[0-9A-Fa-f:](?<![\w:.][0-9A-Fa-f:])[0-9A-Fa-f]{0,3}:(?:[0-9A-Fa-f]{0,4}:){1,6}"
                  r"(?:[0-9A-Fa-f]{1,4}|(?<=:)\d{1,3}(?:\.\d{1,3}){3})?(?:%\w+)?(?![\w:])")
LONG_WORD = re.compile(r"\S{20}")  # keys and tokens are all at least this long
DIGIT = re.compile(r"\d")
REFERENCE_PREFIXES = ("[", "{", "$", "<", "%")  # a placeholder or a variable reference (${API_KEY}), not a secret
SECRET_VALUE_MIN_PLAIN = 6  # "token is cool" stays; "token: hunter2" (a digit) or any 6+ character value goes


def luhn_valid(digits: str) -> bool:
    total, double = 0, False
    for char in reversed(digits):
        value = ord(char) - 48
        if double:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
        double = not double
    return total % 10 == 0


class Scrubber:
    """Replaces personal data with typed placeholders and counts what it replaced, by kind."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def scrub(self, text: str) -> str:
        if not text:
            return text
        lower = text.lower()
        if "-----begin" in lower:
            text = self._sub("private_key", PRIVATE_KEY, text)
        if "://" in text:
            if "/api/webhooks" in lower or "hooks.slack" in lower:
                text = self._sub("webhook", WEBHOOK, text)
            if "@" in text:
                text = URL_CREDENTIALS.sub(self._url_credentials, text)
        if "=" in text:
            text = URL_SECRET.sub(self._url_secret, text)
        if LONG_WORD.search(text):
            if "eyj" in lower:
                text = self._sub("jwt", JWT, text)
            if text.count(".") >= 2:
                text = self._sub("discord_token", DISCORD_TOKEN, text)
            text = self._sub("api_key", API_KEY, text)
        if SECRET_GATE.search(lower):
            text = SECRET.sub(self._secret, text)
        if "@" in text:
            text = self._sub("email", EMAIL, text)
        return self._numbers(text)

    def _numbers(self, text: str) -> str:
        if ":" not in text and DIGIT.search(text) is None:
            return text
        digits = len(DIGIT.findall(text))
        if digits >= 7:
            text = self._sub("card", CARD, text)
            text = self._sub("phone", PHONE, text)
        if digits >= 4 and text.count(".") >= 3:
            text = self._sub("ipv4", IPV4, text)
        if text.count(":") >= 2:
            text = self._sub("ipv6", IPV6, text)
        return text

    def _sub(self, kind: str, pattern: re.Pattern, text: str) -> str:
        def replace(match: re.Match) -> str:
            if not plausible(kind, match.group(0)):
                return match.group(0)
            self.counts[kind] += 1
            return PLACEHOLDERS[kind]
        return pattern.sub(replace, text)

    def _url_credentials(self, match: re.Match) -> str:
        self.counts["url_credentials"] += 1
        return f"{match.group(1)}{PLACEHOLDERS['url_credentials']}@"

    def _url_secret(self, match: re.Match) -> str:
        if match.group(0).endswith("]"):
            return match.group(0)
        self.counts["url_secret"] += 1
        return match.group(1) + PLACEHOLDERS["url_secret"]

    def _secret(self, match: re.Match) -> str:
        value = match.group(2)
        plain_word = len(value) < SECRET_VALUE_MIN_PLAIN and not any(char.isdigit() for char in value)
        if plain_word or value.startswith(REFERENCE_PREFIXES) or "process.env" in value:
            return match.group(0)  # a reference or a plain word ("the token is here"), not the secret itself
        self.counts["secret"] += 1
        return match.group(1) + PLACEHOLDERS["secret"]


def plausible(kind: str, found: str) -> bool:
    """Whether a candidate of an ambiguous kind really is one (validation the regex cannot express)."""
    if kind == "card":
        digits = found.replace(" ", "").replace("-", "")
        limit = 19 if len(digits) != len(found) else 16  # bare 17-19 digit runs are Discord ids, not cards
        return 13 <= len(digits) <= limit and luhn_valid(digits)
    if kind == "ipv6":
        address = found.split("%", 1)[0]
        if sum(char in "0123456789abcdefABCDEF" for char in address) < 4:
            return False  # "::", "a::b": code and emoticons, not addresses
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return False
        return True
    if kind == "phone":
        return 7 <= sum(char.isdigit() for char in found) <= 15
    return True
