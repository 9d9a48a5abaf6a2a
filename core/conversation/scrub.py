"""Personal-data scrubbing: every text that reaches an output passes through ``Scrubber.scrub``.

Each kind has its own regular expression behind a cheap gate (a substring or character-count test), because almost
every Discord line contains none of them and a single alternation of a dozen patterns costs ~25 µs a message, which
alone would blow the prepare budget on a million messages. Kinds run in a fixed order so that the more specific shape
wins: credentials in ``https://user:pass@host`` before the e-mail-like ``pass@host``, a JWT inside a query string as a
query secret, IBANs before cards before phones. Ambiguous kinds are validated in code (mod-97 for IBANs, Luhn for
cards, ``ipaddress`` for IPv6, digit counts for phones, value shape for ``password: ...``). Each hit becomes a typed
placeholder (``[EMAIL]``...); counts per kind feed the dataset stats.

Numbers in ordinary chat: Discord snowflakes (17-20 digits), unix timestamps (10 digits starting with 1), years,
times (``10:30``), versions (``v1.2.3``), scores (``12-10``), ranges of round numbers (``200-2500``) and counts
(``555 points``) are left alone; a bare ten-digit run is a phone only in the North-American shape (first and fourth
digit 2-9) or with a leading 0, and a seven-digit local number only as ``NXX-XXXX`` with a dash.
"""
from __future__ import annotations

import ipaddress
import re
from collections import Counter

PLACEHOLDERS = {
    "private_key": "[PRIVATE_KEY]", "webhook": "[WEBHOOK]", "url_credentials": "[CREDENTIALS]",
    "url_secret": "[SECRET]", "jwt": "[JWT]", "discord_token": "[DISCORD_TOKEN]", "api_key": "[API_KEY]",
    "secret": "[SECRET]", "email": "[EMAIL]", "iban": "[IBAN]", "card": "[CARD]", "phone": "[PHONE]",
    "ipv4": "[IP]", "ipv6": "[IP]",
}

PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]{0,20}PRIVATE KEY-----|$)",
                         re.IGNORECASE)
WEBHOOK = re.compile(r"https?://(?:[\w-]+\.)?(?:discord(?:app)?\.com/api/webhooks|hooks\.slack\.com/services)/[\w/-]+",
                     re.IGNORECASE)
URL_CREDENTIALS = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{1,15}://)[^\s/@:?#]+(?::[^\s/@?#]*)?@")
URL_SECRET = re.compile(r"([?&;#][\w.-]*?(?:token|key|secret|passw(?:or)?d|pwd|pass|auth|sig(?:nature)?|session|sid"
                        r"|code|credential)[\w.-]*=)[^&#\s]+", re.IGNORECASE)
JWT = re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")
DISCORD_TOKEN = re.compile(r"\b[MNO][\w-]{23,27}\.[\w-]{6,7}\.[\w-]{27,40}(?![\w-])|\bmfa\.[\w-]{60,}")
API_KEY = re.compile(r"\bsk-(?:proj-|ant-)?[\w-]{20,}|\b[spr]k_(?:live|test)_[A-Za-z0-9]{16,}"
                     r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_\w{30,}|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
                     r"|\bxox[abposre]-[A-Za-z0-9-]{10,}|\bAIza[\w-]{30,}|\bglpat-[\w-]{20,}|\bhf_[A-Za-z0-9]{30,}"
                     r"|\bnpm_[A-Za-z0-9]{36}|\bSG\.[\w-]{22}\.[\w-]{43}")
# keyword, separator, value. "pass" needs ":"/"=" or " is " ("pass the salt"); a bare space only after the
# unambiguous keywords, and then the value must look like a password (see STRICT_VALUE).
SECRET = re.compile(r"\b((passw(?:or)?d|passwort|kennwort|passcode|pwd|pw|secret|api[_ -]?key|access[_ -]?token"
                    r"|auth[_ -]?token|token|client[_ -]?secret|pass(?=\s*[:=]|\s+is\s))(\s*[:=]\s*|\s+is\s+|[ \t]+))"
                    r"([^\s,;]{4,})", re.IGNORECASE)
SECRET_GATE = re.compile("pass|pw|secret|key|token|kennwort")  # searched in the lower-cased text
STRICT_VALUE = re.compile(r"\d|[!@#$%^&*_+=~|<>/\\]|[a-z][A-Z]")  # "password hunter2" yes, "password manager" no
TRAILING_PUNCTUATION = ".,!?)"
EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}\b")  # \w is Unicode: "jürgen@müller.de"
IBAN = re.compile(r"(?<![A-Z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Z0-9])",
                  re.IGNORECASE | re.ASCII)
IBAN_GATE = re.compile(r"[A-Za-z]{2}\d{2}")
IBAN_LENGTHS = {  # country -> IBAN length, from the ISO 13616 registry
    code: int(length) for code, length in (pair.split(":") for pair in (
        "AD:24 AE:23 AL:28 AT:20 AZ:28 BA:20 BE:16 BG:22 BH:22 BI:27 BR:29 BY:28 CH:21 CR:22 CY:28 CZ:24 DE:22 DJ:27 "
        "DK:18 DO:28 EE:20 EG:29 ES:24 FI:18 FK:18 FO:18 FR:27 GB:22 GE:22 GI:23 GL:18 GR:27 GT:28 HR:21 HU:28 IE:22 "
        "IL:23 IQ:23 IS:26 IT:27 JO:30 KW:30 KZ:20 LB:28 LC:32 LI:21 LT:20 LU:20 LV:21 LY:25 MC:27 MD:24 ME:22 MK:19 "
        "MN:20 MR:27 MT:31 MU:30 NI:28 NL:18 NO:15 OM:23 PK:24 PL:28 PS:29 PT:25 QA:29 RO:24 RS:22 RU:33 SA:24 SC:31 "
        "SD:18 SE:24 SI:19 SK:24 SM:27 SO:23 ST:25 SV:28 TL:23 TN:24 TR:26 UA:29 VA:22 VG:24 XK:20 YE:30").split())}
CARD = re.compile(r"\d(?<![\d+-]\d)(?:[ -]?\d){12,18}(?![\d-])")
CARD_FIRST_DIGITS = "23456"  # Mastercard 2/5, Amex 3, Visa 4, Discover 6; "1..." is a millisecond timestamp
# International numbers go before cards (a card match inside "+49 170 1234 5678 901" would leave "+49 [CARD]"),
# the other shapes after them (a card's "0000 0000 0000" group must not become a phone).
# "X(?<![\w.+-]X)" checks the character before the match cheaply.
INTERNATIONAL_PHONE = re.compile(
    r"\+(?<![\w+]\+)\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\w)"                    # +44 20 7946 0958
    r"|00(?<![\w.+-]00)(?<!\d[ -]00)[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\w)")  # 0044 20 7946 0958
PHONE = re.compile(  # most specific first
    r"\((?<!\w\()\d{2,4}\)[ .-]?\d{3,4}[ .-]?\d{3,4}(?![\w-])"                  # (555) 867-5309
    r"|1(?<![\w.+-]1)[ .-]\d{3}[ .-]\d{3}[ .-]\d{4}(?![\w-]|\.\d)"                # 1-800-555-0199
    r"|\d(?<![\w.+-]\d)\d{2}[ .-]\d{3}[ .-]\d{4}(?![\w-]|\.\d)"                   # 555 867 5309, 800-555-0199
    r"|0(?<![\w.+-]0)[1-9](?:[ .]\d{2}){4}(?![\w-]|\.\d)"                         # 06 12 34 56 78
    r"|0(?<![\w.+-]0)\d{2,4}[ /-]\d{3,4}[ -]?\d{3,4}(?![\w-]|\.\d)"               # 020 7946 0959, 0800-123-4567
    r"|[2-9](?<![\w.+-][2-9])\d{2}[2-9]\d{6}(?![\w-]|\.\d)"                       # 5558675309
    r"|0(?<![\w.+-]0)[1-9]\d{8,9}(?![\w-]|\.\d)"                                  # 0301234567
    r"|[2-9](?<![\w.+:/$#-][2-9])\d{2}-\d{4}(?![\w-]|\.\d)")                     # 867-5309
LOCAL_NUMBER = re.compile(r"\d{3}-\d{4}")
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


def iban_valid(compact: str) -> bool:
    """ISO 13616: a known country, its IBAN length, two check digits, and mod 97 of the rearranged number is 1."""
    compact = compact.upper()
    if len(compact) != IBAN_LENGTHS.get(compact[:2]) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


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
            if text.count(".") >= 2 or "mfa." in lower:
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
            if IBAN_GATE.search(text):
                text = IBAN.sub(self._iban, text)
            if "+" in text or "00" in text:
                text = self._sub("phone", INTERNATIONAL_PHONE, text)
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
        keyword, separator, value = match.group(2).lower(), match.group(3), match.group(4)
        trimmed = value.rstrip(TRAILING_PUNCTUATION)
        if len(trimmed) >= 4:
            value = trimmed
        if separator.strip() and not (keyword == "pass" and separator.strip().lower() == "is"):
            plain_word = len(value) < SECRET_VALUE_MIN_PLAIN and not any(char.isdigit() for char in value)
        else:  # "password manager", "the pass is valid": the value must look like a password
            plain_word = STRICT_VALUE.search(value) is None
        if plain_word or value.startswith(REFERENCE_PREFIXES) or "process.env" in value:
            return match.group(0)  # a reference or a plain word ("the token is here"), not the secret itself
        self.counts["secret"] += 1
        return match.group(1) + PLACEHOLDERS["secret"] + match.group(4)[len(value):]

    def _iban(self, match: re.Match) -> str:
        """An IBAN, spaced or not; a trailing word caught as a last group ("... 7034 test") is given back."""
        found = candidate = match.group(0)
        while len(candidate.replace(" ", "")) >= 15:
            if iban_valid(candidate.replace(" ", "")):
                self.counts["iban"] += 1
                return PLACEHOLDERS["iban"] + found[len(candidate):]
            if " " not in candidate:
                break
            candidate = candidate.rsplit(" ", 1)[0]
        return found


def plausible(kind: str, found: str) -> bool:
    """Whether a candidate of an ambiguous kind really is one (validation the regex cannot express)."""
    if kind == "card":
        digits = found.replace(" ", "").replace("-", "")
        limit = 19 if len(digits) != len(found) else 16  # bare 17-19 digit runs are Discord ids, not cards
        return digits[0] in CARD_FIRST_DIGITS and 13 <= len(digits) <= limit and luhn_valid(digits)
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
        digits = sum(char.isdigit() for char in found) - (2 if found.startswith("00") else 0)
        if LOCAL_NUMBER.fullmatch(found) and found[2] == "0" and found.endswith("00"):
            return False  # "200-2500", "350-1000": a range of round numbers, not a local number
        return 7 <= digits <= 15
    return True
