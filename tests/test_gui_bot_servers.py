"""The Bot page's servers and automatic persona: the home servers (names from a real workspace database, removing and
adding saved as ``home_guild_ids`` in SQLite), the servers the bot reports in its heartbeat, Leave behind a
confirmation, and the line saying who the bot answers as when no persona is chosen."""
from __future__ import annotations

from contextlib import closing

from bot_controller.protocol import BotHeartbeat, BotStateChanged
from storage.bot_settings import BotSettings, load, set_value
from tests.conftest_gui import FakeActions, build, gui_display, pump, tk_root  # noqa: F401 (fixtures)

CAFE, GAMES, STRANGER, QUIET = 111111111111111111, 222222222222222222, 333333333333333333, 444444444444444444
WREN = {"id": "5", "name": "Wren", "automatic": True,
        "why": "the most training examples (412) in this model's dataset"}


def heartbeat(*servers: tuple[int, str, bool], persona: dict | None = None) -> BotHeartbeat:
    details = {"servers": [{"id": str(guild_id), "name": name, "home": home} for guild_id, name, home in servers]}
    if persona is not None:
        details["persona"] = persona
    return BotHeartbeat(job_id="bot", status="ready", details=details)


def stored_home(workspace) -> tuple[int, ...]:
    with closing(workspace.connect()) as conn:
        return load(conn).home_guild_ids


def real_actions(workspace, home: list[int]):
    from core.jobs.bus import EventBus
    from gui.actions import Actions
    with closing(workspace.connect()) as conn, conn:
        conn.executemany("INSERT INTO guilds (id, name) VALUES (?, ?)", [(CAFE, "Moonbase Cafe"),
                                                                         (GAMES, "Game Night")])
        set_value(conn, "home_guild_ids", home)
    return Actions(workspace, EventBus())


def test_home_servers_show_stored_names_and_removing_or_adding_one_saves_it(tk_root, workspace):
    from gui.views.bot import BotView
    from gui.views.bot_servers import NO_HOME
    actions = real_actions(workspace, [CAFE, STRANGER])
    view, _bus, _sub = build(tk_root, BotView, actions)
    assert {g: label.cget("text") for g, (label, _b) in view.home_rows.items()} == {
        CAFE: f"Moonbase Cafe  ·  {CAFE}", STRANGER: str(STRANGER)}  # no stored name: the id
    view.home_rows[CAFE][1].invoke()
    assert stored_home(workspace) == (STRANGER,) and list(view.home_rows) == [STRANGER]
    view.home_entry.insert(0, "Game Night")  # not an id: refused in words, nothing saved
    view.home_add_button.invoke()
    assert "'Game Night' is not a server id" in view.banner.text() and stored_home(workspace) == (STRANGER,)
    view.home_entry.delete(0, "end")
    view.home_entry.insert(0, f" {GAMES} ")
    view.home_add_button.invoke()
    assert stored_home(workspace) == (STRANGER, GAMES)
    assert view.home_rows[GAMES][0].cget("text") == f"Game Night  ·  {GAMES}" and view.home_entry.get() == ""
    for guild_id in (STRANGER, GAMES):
        view.home_rows[guild_id][1].invoke()
    assert stored_home(workspace) == () and not view.home_rows
    assert [child.cget("text") for child in view.home_list.winfo_children()] == [NO_HOME]
    assert "answers nowhere until a channel is allowlisted" in NO_HOME


def test_a_server_the_bot_is_in_names_or_becomes_a_home_server_without_reloading_the_form(tk_root, workspace):
    from gui.views.bot import BotView
    actions = real_actions(workspace, [CAFE, QUIET])
    view, bus, subscription = build(tk_root, BotView, actions)
    assert view.home_rows[QUIET][0].cget("text") == str(QUIET)  # no import or fetch stored its name
    view.entries["temperature"].delete(0, "end")
    view.entries["temperature"].insert(0, "1.1")  # typed, not applied yet
    bus.publish(heartbeat((CAFE, "Moonbase Cafe", True), (STRANGER, "Bot Testing Zone", False),
                          (QUIET, "Quiet Corner", True)))
    pump(tk_root, subscription, [view])
    assert view.home_rows[QUIET][0].cget("text") == f"Quiet Corner  ·  {QUIET}"  # the bot knows its name
    assert view.server_rows[CAFE][2] is None  # already home: no Make home button
    view.server_rows[STRANGER][2].invoke()
    assert stored_home(workspace) == (CAFE, QUIET, STRANGER)
    assert view.home_rows[STRANGER][0].cget("text") == f"Bot Testing Zone  ·  {STRANGER}"  # the bot's name for it
    assert view.server_rows[STRANGER][1].cget("text") == "home"  # at once, before the bot's next beat says so
    bus.publish(heartbeat((CAFE, "Moonbase Cafe", True), (STRANGER, "Bot Testing Zone", True)))
    pump(tk_root, subscription, [view])
    assert view.entries["temperature"].get() == "1.1"  # our own save does not reload the form over the edit


def test_the_leave_verb_reaches_a_running_controller_only(workspace):
    from core.jobs.bus import EventBus
    from gui.actions import Actions

    class FakeController:
        def __init__(self, _workspace, _bus):
            self.left = []

        def leave_guild(self, guild_id):
            self.left.append(guild_id)
            return True

    actions = Actions(workspace, EventBus(), controller_factory=FakeController)
    assert actions.leave_guild(CAFE) is False  # no bot was ever started: nothing to send it to
    actions.controller  # noqa: B018 (the page's Start creates it)
    assert actions.leave_guild(str(CAFE)) is True and actions.controller.left == [CAFE]


def server_actions(**overrides):
    returns = {"bot_settings": BotSettings(), "persona_choices": [(5, "Wren"), (6, "Ann")], "bot_settings_version": 1,
               "allowlisted_channels": [], "home_servers": [(CAFE, "Moonbase Cafe")], "leave_guild": True}
    returns.update(overrides)
    return FakeActions(returns=returns)


def test_the_server_list_follows_the_heartbeat_and_the_bot_state(tk_root):
    from gui.views.bot import BotView
    from gui.views.bot_servers import NOT_HOME_HINT, NOT_RUNNING, WAITING
    view, bus, subscription = build(tk_root, BotView, server_actions())
    assert view.servers_note.cget("text") == NOT_RUNNING and not view.server_rows
    bus.publish(BotStateChanged(job_id="bot", state="running", previous="starting"))
    pump(tk_root, subscription, [view])
    assert view.servers_note.cget("text") == WAITING
    bus.publish(heartbeat((CAFE, "Moonbase Cafe", True), (STRANGER, "Bot Testing Zone", False)))
    pump(tk_root, subscription, [view])
    rows = {g: (name.cget("text"), status.cget("text")) for g, (name, status, _h, _l) in view.server_rows.items()}
    assert rows == {CAFE: ("Moonbase Cafe", "home"), STRANGER: ("Bot Testing Zone", NOT_HOME_HINT)}
    assert "ignores" in NOT_HOME_HINT
    bus.publish(heartbeat((CAFE, "Moonbase Cafe", True)))  # the bot left the other server
    pump(tk_root, subscription, [view])
    assert list(view.server_rows) == [CAFE]
    bus.publish(BotStateChanged(job_id="bot", state="stopped", previous="stopping"))
    pump(tk_root, subscription, [view])
    assert view.servers_note.cget("text") == NOT_RUNNING and not view.server_rows


def test_leave_asks_first_and_sends_the_id_only_after_confirming(tk_root):
    from gui.views.bot import BotView
    actions = server_actions()
    view, bus, subscription = build(tk_root, BotView, actions)
    bus.publish(BotStateChanged(job_id="bot", state="running", previous="starting"))
    bus.publish(heartbeat((CAFE, "Moonbase Cafe", True), (STRANGER, "Bot Testing Zone", False)))
    pump(tk_root, subscription, [view])
    view.server_rows[STRANGER][3].invoke()
    assert view.leave_text.cget("text") == "Leave Bot Testing Zone? The bot can only come back through a new invite."
    view.leave_cancel.invoke()
    assert view.leave_dialog is None and not actions.called("leave_guild")  # Stay: nothing sent
    view.server_rows[STRANGER][3].invoke()
    assert not actions.called("leave_guild")  # nothing happens before the dialog's Leave
    view.leave_confirm.invoke()
    assert actions.called("leave_guild") == [((STRANGER,), {})] and view.leave_dialog is None
    assert view.banner.text().startswith("The bot is leaving Bot Testing Zone")
    actions.returns["leave_guild"] = False  # the bot stopped meanwhile
    view.server_rows[CAFE][3].invoke()
    view.leave_confirm.invoke()
    assert actions.called("leave_guild")[-1] == ((CAFE,), {})
    assert view.banner.text().startswith("Could not leave Moonbase Cafe: the bot is not running")


def test_the_automatic_persona_says_who_answers_and_why(tk_root):
    from gui.views.bot import AUTOMATIC_STOPPED, NO_PERSONA, BotView
    actions = server_actions()
    view, bus, subscription = build(tk_root, BotView, actions)
    assert view.persona_menu.get() == NO_PERSONA == "(automatic)"
    assert view.persona_note.cget("text") == AUTOMATIC_STOPPED
    bus.publish(BotStateChanged(job_id="bot", state="running", previous="starting"))
    bus.publish(heartbeat((CAFE, "Moonbase Cafe", True), persona=WREN))
    pump(tk_root, subscription, [view])
    assert view.persona_note.cget("text") == ("answering as Wren: the most training examples (412) in this model's "
                                              "dataset")
    view.persona_menu._dropdown_callback("Ann (6)")  # a click on the menu's entry
    assert view.persona_note.cget("text") == ""  # a chosen persona speaks: no automatic line
    view.apply_button.invoke()
    assert (("persona_id", 6), {}) in actions.called("set_bot_setting")
    bus.publish(BotStateChanged(job_id="bot", state="stopped", previous="stopping"))
    pump(tk_root, subscription, [view])  # the stored setting (fake) is still automatic: the menu went back to it
    assert view.persona_menu.get() == NO_PERSONA
    assert view.persona_note.cget("text") == AUTOMATIC_STOPPED  # a stopped bot answers as nobody
