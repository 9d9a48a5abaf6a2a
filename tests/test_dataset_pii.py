"""A seeded-PII corpus: every planted secret is absent from every output file; ordinary text is left alone."""
from __future__ import annotations

import json

import pytest

from core.conversation.scrub import Scrubber, luhn_valid
from tests.conftest import run_cli
from tests.test_dataset_support import History, output_text

# (text planted in a message, the sensitive parts that must not survive, the kind the stats must count)
PLANTED = [
    ("jane.doe+test@example.com", ["jane.doe", "example.com"], "email"),
    ("ops_team@mail.sub-domain.org", ["ops_team", "sub-domain.org"], "email"),
    ("+1 (555) 867-5309", ["867-5309", "(555) 867"], "phone"),
    ("+44 20 7946 0958", ["7946"], "phone"),
    ("555-867-5310", ["867-5310"], "phone"),
    ("(555) 867-5311", ["867-5311"], "phone"),
    ("+49 30 12345678", ["12345678"], "phone"),
    ("020 7946 0959", ["7946 0959"], "phone"),
    ("0044 20 7946 0960", ["7946 0960", "0044 20"], "phone"),
    ("00491701234567", ["1701234567"], "phone"),
    ("030 1234 5679", ["1234 5679"], "phone"),
    ("06 12 34 56 79", ["34 56 79"], "phone"),
    ("6175550143", ["6175550143"], "phone"),
    ("1-800-555-0144", ["555-0144", "1-800"], "phone"),
    ("734-2291", ["734-2291"], "phone"),
    ("DE89 3704 0044 0532 0130 00", ["DE89", "3704 0044", "0532 0130"], "iban"),
    ("GB82WEST12345698765432", ["GB82WEST", "12345698765432"], "iban"),
    ("jürgen.müller@beispiel.de", ["jürgen", "beispiel.de"], "email"),
    ("δοκιμή@παράδειγμα.ελ", ["δοκιμή", "παράδειγμα"], "email"),
    ("pw: hunter2x", ["hunter2x"], "secret"),
    ("password Sw0rdfish", ["Sw0rdfish"], "secret"),
    ("pass=letmein99", ["letmein99"], "secret"),
    ("mfa." + "Q9" * 34, ["Q9Q9Q9Q9"], "discord_token"),
    ("192.168.13.37", ["192.168.13.37", "13.37"], "ipv4"),
    ("10.0.0.254", ["10.0.0.254"], "ipv4"),
    ("2001:db8:85a3::8a2e:370:7334", ["8a2e:370:7334", "2001:db8"], "ipv6"),
    ("fe80::1ff:fe23:4567:890a", ["fe23:4567"], "ipv6"),
    ("4111 1111 1111 1111", ["4111 1111", "1111 1111 1111"], "card"),
    ("5500-0000-0000-0004", ["5500-0000"], "card"),
    ("378282246310005", ["378282246310005"], "card"),
    ("4012888888881881", ["4012888888881881"], "card"),
    ("MTIzNDU2Nzg5MDEyMzQ1Njc4.Gh7kLm.abcdefghijklmnopqrstuvwxyz_AB12cd", ["MTIzNDU2Nzg5", "Gh7kLm"],
     "discord_token"),
    ("sk-proj-Abc123Def456Ghi789Jkl012Mno345", ["Abc123Def456"], "api_key"),
    ("sk-ant-api03-ZZtopSecretValue0123456789abcdef", ["ZZtopSecret"], "api_key"),
    ("ghp_1234567890abcdefghijABCDEFGHIJ123456", ["ghp_1234567890"], "api_key"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", ["11ABCDEFG0123456789"], "api_key"),
    ("AKIAIOSFODNN7EXAMPLE", ["AKIAIOSFODNN7EXAMPLE"], "api_key"),
    ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", ["AbCdEfGhIjKl", "123456789012"], "api_key"),
    ("xoxp-2222222222-3333333333-abcdefabcdef", ["abcdefabcdef"], "api_key"),
    ("AIzaSyA1234567890abcdefghijklmnopqrstuv", ["AIzaSyA1234567890"], "api_key"),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", ["4eC39HqLyjWDarjtT1zdp7dc"], "api_key"),
    ("https://admin:S3cretPass@db.example.net/panel", ["S3cretPass", "admin:"], "url_credentials"),
    ("postgres://dbuser:pw123456@10.1.2.3:5432/app", ["pw123456", "dbuser"], "url_credentials"),
    ("https://ghp_tokenInUrl0123456789@github.com/org/repo.git", ["tokenInUrl0123456789"], "url_credentials"),
    ("https://api.example.io/v1/items?api_key=QWERTY123456&page=2", ["QWERTY123456"], "url_secret"),
    ("https://example.io/cb?code=oauthCode987&state=xyz&access_token=tok_abcdef", ["oauthCode987", "tok_abcdef"],
     "url_secret"),
    ("https://example.io/reset?user=7&password=hunter2hunter2", ["hunter2hunter2"], "url_secret"),
    ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
     "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", ["eyJhbGciOiJIUzI1NiIs", "SflKxwRJSMeKKF2QT4fw"], "jwt"),
    ("password: Tr0ub4dor&3", ["Tr0ub4dor"], "secret"),
    ("my pwd is correcthorse9", ["correcthorse9"], "secret"),
    ("https://discord.com/api/webhooks/123456789012345678/AbCdEf-GhIjKl_MnOpQr", ["AbCdEf-GhIjKl"], "webhook"),
]

ORDINARY = [
    "the meeting is on 2024-01-05 at 12:30:45, bring 1,000,000 ideas",
    "message 1325943427195469948 was pinned; version 1.2.3 and v2.0 are out",
    "std::vector<int> v; // C++ code with a::b",
    "see https://github.com/slatinsky/DiscordChatExporter-frontend for details",
    "Hi @Pascal | ETHGlobal! the token is cool, my key is here",
    "apiKey={process.env.NEXT_PUBLIC_API_KEY} and ${SECRET_TOKEN} are references",
    "we had 100 people and 25 teams, score 12-10",
    # numbers in ordinary chat (see core/conversation/scrub.py): years, versions, times, counts, ranges, ids, clocks
    "in 2024 with v1.2.3 at 10:30 we got 555 points, then 2023-2024 and 200-2500 people",
    "ts 1700000000 or 1700000000123 ms, id 1325943427195469948 and 12345678901234567890",
    "password manager, the pass is valid, pass the salt, my password doesn't work",
]


def test_each_planted_secret_is_replaced_by_a_typed_placeholder():
    scrubber = Scrubber()
    for planted, sensitive, kind in PLANTED:
        text = scrubber.scrub(f"here: {planted} (thanks)")
        for part in sensitive:
            assert part not in text, (planted, text)
        assert text.startswith("here: ") and text.endswith(" (thanks)"), text
    counted = set(scrubber.counts)
    assert {kind for _, _, kind in PLANTED} <= counted, counted


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_left_alone(text):
    scrubber = Scrubber()
    assert scrubber.scrub(text) == text
    assert not scrubber.counts


def test_luhn():
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")
    assert Scrubber().scrub("order 4111111111111112 shipped") == "order 4111111111111112 shipped"


def test_no_planted_secret_reaches_any_output_file(workspace):
    history = History()
    people = [history.user(200 + n, name) for n, name in enumerate(["Ann", "Ben", "Cid", "Dee"])]
    history.user(250, "Mailer", display_name="mail me: leak.name@example.org")  # a display name with an e-mail
    general = history.channel(7000, "general")
    thread = history.channel(7001, "help thread", kind="GuildPublicThread", parent=general)
    for number, (planted, _, _) in enumerate(PLANTED):
        channel = thread if number % 3 == 0 else general
        author = people[number % len(people)]
        asked = history.say(channel, people[(number + 1) % len(people)], f"question {number}, what is it?",
                            after=50)
        history.say(channel, author, f"it is {planted} ok", reply_to=asked, reactions=number % 2)
        history.say(channel, 250, f"noted {number} from <@{author}>", mentions=(author,))
        history.say(channel, people[(number + 2) % len(people)], f"thanks for {planted}!", after=5)
    history.write(workspace.connect())
    code, out, err = run_cli("prepare", "--out", str(workspace.root / "pii"), "--min-messages", "3", "--json",
                             workspace=workspace)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["examples"]["train"] + summary["examples"]["val"] + summary["examples"]["test"] >= len(PLANTED)
    everything = output_text(workspace.root / "pii")
    for planted, sensitive, kind in PLANTED:
        for part in sensitive:
            assert part not in everything, (kind, planted, part)
        assert summary["scrubbed"].get(kind, 0) > 0, kind
    assert "leak.name" not in everything and "[EMAIL]" in everything
    # the per-persona layout is scrubbed just the same
    code, out, err = run_cli("prepare", "--out", str(workspace.root / "pii-each"), "--min-messages", "3",
                             "--strategy", "per-persona", "--json", workspace=workspace)
    assert code == 0, err
    everything = output_text(workspace.root / "pii-each")
    for planted, sensitive, kind in PLANTED:
        assert not any(part in everything for part in sensitive), planted
