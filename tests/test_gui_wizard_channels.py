"""The wizard's step 2 lists the bot's live channels from `channels list --json` (run as a job) with a checkbox each
and allowlists the ticked ones: stored ones locally, new ones through a `channels add` job.

The listing's JSON is the real CLI verb's output against the fake Discord client (tests/fakes_discord, injected
in-process as tests/test_channels.py does); the job subprocess itself cannot use that fake, so the wizard receives
that output as the job's stdout LogLine, as the runner delivers it."""
from __future__ import annotations

import pytest

import core.fetching.discord_source
from core.config import secrets
from core.jobs.bus import EventBus
from core.jobs.events import JobFailed, JobStateChanged, LogLine
from core.ingest.records import ChannelRow, GuildRow, MessageBatch
from gui.live_channels import ListingError, parse_listing
from storage.messages import write_batch
from tests.conftest import run_cli
from tests.conftest_gui import FakeActions, gui_display, pump, tk_root  # noqa: F401 (fixtures)
from tests.fakes_discord import FakeTextChannel, build_server
from tests.memory_keyring import _STORE


@pytest.fixture
def listing(workspace, monkeypatch):
    """The real `channels list --json` output for a fake guild, one of whose channels is already stored."""
    _STORE.clear()
    server = build_server(messages=5)
    monkeypatch.setattr(core.fetching.discord_source, "CLIENT_FACTORY", lambda: server.client)
    monkeypatch.setenv(secrets.TOKEN_ENV, server.token)
    FakeTextChannel(server.guild, "staff", readable=False)
    conn = workspace.connect()
    write_batch(conn, MessageBatch(guilds={server.guild.id: GuildRow(server.guild.id, server.guild.name)},
                                   channels={server.general.id: ChannelRow(server.general.id, server.guild.id,
                                                                           "GuildTextChat", "general")}))
    conn.close()
    code, out, err = run_cli("channels", "list", "--json", workspace=workspace)
    assert code == 0, err
    return server, out


def wizard_at_channels(root, actions):
    from gui.views.wizard import WizardView
    bus = EventBus()
    subscription = bus.subscribe("panel")
    view = WizardView(root, actions, bus)
    view.grid(row=0, column=0, sticky="nsew")
    view.show_step(1)
    root.update()
    return view, bus, subscription


def test_parse_listing_keeps_the_guilds_text_channels(listing):
    server, out = listing
    channels = {channel.name: channel for channel in parse_listing(["starting…", out.strip()])}
    assert set(channels) == {"general", "random", "help-forum", "staff"}  # the category is not a channel
    assert channels["general"].stored and not channels["random"].stored
    assert channels["staff"].readable is False and channels["general"].guild == server.guild.name
    with pytest.raises(ListingError, match="no JSON"):
        parse_listing(["error: no bot token is stored"])


def test_wizard_lists_live_channels_and_allowlists_the_ticked_ones(tk_root, listing):
    server, out = listing
    actions = FakeActions(returns={"token_status": "keyring", "channel_choices": [], "list_live_channels": "list-1",
                                   "add_live_channels": "add-1"})
    view, bus, subscription = wizard_at_channels(tk_root, actions)
    assert actions.called("list_live_channels") == [((), {})]
    assert "Asking Discord" in view.channels_note.cget("text") and view.list_button.cget("state") == "disabled"
    bus.publish(LogLine(job_id="list-1", text=out.strip(), stream="stdout"))
    bus.publish(LogLine(job_id="other", text='{"channels": []}', stream="stdout"))  # another job's output
    bus.publish(JobStateChanged(job_id="list-1", name="channels", state="finished", previous="running"))
    pump(tk_root, subscription, [view])
    names = {cid: box.cget("text") for cid, box in view.channel_boxes.items()}
    assert names[server.general.id] == "#general" and len(names) == 4
    assert any("cannot read" in text for text in names.values())  # the unreadable channel says so
    assert view.channels_note.cget("text").startswith("4 channels in 1 server.")
    random_id = next(cid for cid, text in names.items() if text == "#random")
    view.channel_boxes[server.general.id].select()
    view.channel_boxes[random_id].select()
    view.next_button.invoke()
    assert actions.called("set_allowlist") == [(([server.general.id], True), {})]  # stored: set here
    assert actions.called("add_live_channels") == [(([random_id],), {})]           # new: stored by the job
    assert view.step == 2
    bus.publish(JobFailed(job_id="add-1", message="channel 5 is not known", advice="fetch first"))
    pump(tk_root, subscription, [view])
    assert "were not allowlisted: channel 5 is not known" in view.banner.text()


def test_a_failed_listing_keeps_the_stored_channels_and_says_why(tk_root):
    actions = FakeActions(returns={"token_status": "keyring", "list_live_channels": "list-1",
                                   "channel_choices": [(11, "Moonbase / #general", True)]})
    view, bus, subscription = wizard_at_channels(tk_root, actions)
    assert view.channel_boxes[11].get() == 1
    bus.publish(JobFailed(job_id="list-1", message="the bot token was rejected by Discord", advice=""))
    bus.publish(JobStateChanged(job_id="list-1", name="channels", state="failed", previous="running"))
    pump(tk_root, subscription, [view])
    assert "Could not list the bot's channels: the bot token was rejected" in view.channels_note.cget("text")
    assert list(view.channel_boxes) == [11] and view.list_button.cget("state") == "normal"


def test_the_listing_job_runs_the_cli_verb_with_json(workspace):
    from gui.actions import Actions
    started = []
    actions = Actions(workspace, EventBus())
    actions.start_job = lambda spec: started.append(spec) or "job-1"
    assert actions.list_live_channels() == "job-1" and actions.add_live_channels([5, 6]) == "job-1"
    listing, adding = started
    assert listing.argv[-3:] == ("channels", "list", "--json") and "--workspace" in listing.argv
    assert adding.argv[-4:] == ("add", "5", "6", "--json")
