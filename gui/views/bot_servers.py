"""The Bot page's two server cards: the home servers (the only ones the bot answers, remembers and takes admin commands
in), editable, and the servers the bot reports in its heartbeat, each with Leave behind a confirmation.

A mixin of ``BotView`` (it uses the page's ``actions``, ``card``, ``run`` and ``banner``), as training_form.py is of
the Training page; BotView forwards the heartbeat's ``servers`` and the bot's state here. Home servers are saved
with ``set_bot_setting("home_guild_ids", ...)``, the path of the page's other settings: the bot sees the version move.
"""
from __future__ import annotations

import customtkinter as ctk

from gui.widgets.button import Button
from gui.widgets.dialog import present
from gui.widgets.tooltip import Tooltip
from gui.widgets.wrap import wrap_to

HOME_EXPLANATION = "The bot answers, remembers and takes admin commands only in these servers."
NO_HOME = ("No home server: the bot answers nowhere until a channel is allowlisted (Data page) or a server is "
           "added here.")
NOT_RUNNING = "Start the bot to see its servers."
WAITING = "Waiting for the bot's first report…"
REPORTED = "As the running bot reports them."
NOT_HOME_HINT = "not home: the bot ignores it"
ID_TIP = "a server id: in Discord turn on Developer Mode, then right-click the server and Copy Server ID"
LIST_HEIGHT = 96          # three home servers or two reported ones show; more scroll
NAME_LENGTH = 40          # a server name can be 100 characters: longer ones are cut so the buttons stay in view
WARNING = ("#9a5b00", "#f0b35a")
MUTED = ("gray35", "gray65")
HOME_COLOR = ("#1f7a3a", "#5ccf7e")
DANGER = ("#b02a37", "#b02a37")
DANGER_HOVER = ("#8c1f2a", "#8c1f2a")


def short_list(master) -> ctk.CTkScrollableFrame:
    """A scrolling list LIST_HEIGHT px tall. CTkScrollbar asks for 200 px unless told otherwise, which keeps a
    CTkScrollableFrame at least that tall whatever its own height says (the Data page's list shows it)."""
    listing = ctk.CTkScrollableFrame(master, height=LIST_HEIGHT)
    listing._scrollbar.configure(height=LIST_HEIGHT)
    listing.grid_columnconfigure(0, weight=1)
    return listing


def shown_name(name: str) -> str:
    return name if len(name) <= NAME_LENGTH else name[:NAME_LENGTH - 1].rstrip() + "…"


def parse_guild_id(text: str) -> int:
    """A typed server id; ValueError in words when it is not one (ids are long whole numbers)."""
    text = text.strip()
    if not text.isdigit() or not 5 <= len(text) <= 20:
        raise ValueError(f"{text!r} is not a server id" if text else "type a server id first")
    return int(text)


class ServerCards:
    def _build_servers(self, row: int) -> None:
        holder = ctk.CTkFrame(self, fg_color="transparent")
        holder.grid(row=row, column=0, sticky="ew")
        holder.grid_columnconfigure((0, 1), weight=1, uniform="servers")
        home = self.card(0, "Home servers", parent=holder)
        explanation = ctk.CTkLabel(home, text=HOME_EXPLANATION, anchor="w", justify="left", text_color=MUTED)
        explanation.grid(row=1, column=0, columnspan=2, sticky="w", padx=12)
        wrap_to(explanation, home)
        self.home_list = short_list(home)
        self.home_list.grid(row=2, column=0, columnspan=2, sticky="ew", padx=12, pady=4)
        self.no_home = ctk.CTkLabel(self.home_list, text=NO_HOME, anchor="w", justify="left", text_color=WARNING)
        wrap_to(self.no_home, self.home_list, right=4)
        add_row = ctk.CTkFrame(home, fg_color="transparent")
        add_row.grid(row=3, column=0, columnspan=2, sticky="ew", padx=12, pady=(0, 10))
        add_row.grid_columnconfigure(0, weight=1)
        self.home_entry = ctk.CTkEntry(add_row, placeholder_text="server id to add")
        self.home_entry.grid(row=0, column=0, sticky="ew", padx=(0, 8))
        self.home_entry.bind("<Return>", lambda _event: self.add_typed_home())
        Tooltip(self.home_entry, ID_TIP)
        self.home_add_button = Button(add_row, text="Add", width=80, command=self.add_typed_home)
        self.home_add_button.grid(row=0, column=1)
        present = self.card(0, "Servers the bot is in", column=1, parent=holder)
        self.servers_note = ctk.CTkLabel(present, text=NOT_RUNNING, anchor="w", text_color=MUTED)
        self.servers_note.grid(row=1, column=0, columnspan=2, sticky="w", padx=12)
        self.server_list = short_list(present)
        self.server_list.grid(row=2, column=0, columnspan=2, sticky="ew", padx=12, pady=(4, 10))
        self.server_list.grid_remove()
        self.home_ids: tuple[int, ...] | None = None   # as stored; None until read
        self.home_rows: dict[int, tuple[ctk.CTkLabel, Button]] = {}           # guild id -> (name, Remove)
        self.servers: list[dict] | None = None         # the latest heartbeat's; None while no bot runs
        self.server_rows: dict[int, tuple] = {}        # guild id -> (name, status, Make home or None, Leave)
        self.leave_dialog = None

    # -- home servers ----------------------------------------------------------------------------------------------
    def show_home(self) -> None:
        home = self.run(self.actions.home_servers)
        if home is None:
            return
        self.home_ids = tuple(guild_id for guild_id, _name in home)
        for widgets in self.home_rows.values():
            for widget in widgets:
                widget.destroy()
        self.home_rows.clear()
        if home:
            self.no_home.grid_remove()
        else:
            self.no_home.grid(row=0, column=0, columnspan=2, sticky="w")
        reported = {guild_id: name for guild_id, name, _home in self.reported_servers()}
        for index, (guild_id, name) in enumerate(home):
            name = name or reported.get(guild_id)
            label = ctk.CTkLabel(self.home_list, text=f"{shown_name(name)}  ·  {guild_id}" if name else str(guild_id),
                                 anchor="w")
            label.grid(row=index, column=0, sticky="w")
            remove = Button(self.home_list, text="Remove", width=80, fg_color="gray45", hover_color="gray35",
                            command=lambda g=guild_id: self.remove_home(g))
            remove.grid(row=index, column=1, pady=1)
            self.home_rows[guild_id] = (label, remove)
        if self.servers is not None:
            self.show_servers(self.servers)  # "home" / "not home" follow the stored list at once

    def save_home(self, guild_ids: list[int]) -> bool:
        self.run(self.actions.set_bot_setting, "home_guild_ids", guild_ids)
        if self.failed:
            return False
        self.version = self.run(self.actions.bot_settings_version)  # our own change: no need to reload the form
        self.show_home()
        return True

    def remove_home(self, guild_id: int) -> None:
        if self.home_ids is not None and self.save_home([g for g in self.home_ids if g != guild_id]):
            self.banner.show("Home servers saved", "a running bot stops answering there within seconds", kind="ok")

    def add_home(self, guild_id: int) -> None:
        current = self.home_ids or ()
        if guild_id in current:
            self.banner.show(f"{guild_id} is already a home server", "nothing to add", kind="info")
        elif self.save_home([*current, guild_id]):
            self.banner.show("Home servers saved", "a running bot answers there within seconds", kind="ok")

    def add_typed_home(self) -> None:
        try:
            guild_id = parse_guild_id(self.home_entry.get())
        except ValueError as exc:
            self.banner.show(str(exc), ID_TIP)
            return
        self.home_entry.delete(0, "end")
        self.add_home(guild_id)

    # -- the servers the bot is in ---------------------------------------------------------------------------------
    def reported_servers(self) -> list[tuple[int, str, bool]]:
        """(guild id, name, home) from the latest heartbeat; home as stored here once read (the bot's own flag
        lags a saved change by a few seconds)."""
        servers = []
        for server in self.servers or ():
            try:
                guild_id = int(server["id"])
            except (KeyError, TypeError, ValueError):
                continue  # a malformed entry is left out rather than breaking the page
            home = guild_id in self.home_ids if self.home_ids is not None else bool(server.get("home"))
            servers.append((guild_id, str(server.get("name") or guild_id), home))
        return servers

    def show_servers(self, servers: list[dict] | None, *, note: str | None = None) -> None:
        self.servers = None if servers is None else list(servers)
        for child in self.server_list.winfo_children():
            child.destroy()
        self.server_rows.clear()
        reported = self.reported_servers()
        if note is None:
            note = NOT_RUNNING if servers is None else REPORTED if reported else "The bot is in no server yet."
        self.servers_note.configure(text=note)
        (self.server_list.grid if reported else self.server_list.grid_remove)()  # no empty box under the note
        for index, (guild_id, name, home) in enumerate(reported):
            row = 2 * index  # two lines: the name, and under it whether the bot serves it
            label = ctk.CTkLabel(self.server_list, text=shown_name(name), anchor="w", height=20,
                                 font=ctk.CTkFont(weight="bold"))
            label.grid(row=row, column=0, sticky="sw", pady=(2, 0))
            status = ctk.CTkLabel(self.server_list, text="home" if home else NOT_HOME_HINT, anchor="w", height=18,
                                  text_color=HOME_COLOR if home else MUTED, font=ctk.CTkFont(size=12))
            status.grid(row=row + 1, column=0, sticky="nw", pady=(0, 2))
            make_home = None
            if not home:
                make_home = Button(self.server_list, text="Make home", width=90,
                                   command=lambda g=guild_id: self.add_home(g))
                make_home.grid(row=row, column=1, rowspan=2, padx=(6, 6))
            leave = Button(self.server_list, text="Leave", width=70, fg_color=DANGER, hover_color=DANGER_HOVER,
                           command=lambda g=guild_id, n=name: self.confirm_leave(g, n))
            leave.grid(row=row, column=2, rowspan=2, padx=(0, 4))
            self.server_rows[guild_id] = (label, status, make_home, leave)

    def servers_from_heartbeat(self, details: dict) -> None:
        servers = details.get("servers")
        if isinstance(servers, list) and servers != self.servers:  # a beat every few seconds: redraw on change only
            self.show_servers(servers)
            reported = {guild_id for guild_id, _name, _home in self.reported_servers()}
            if any(self.home_rows[g][0].cget("text") == str(g) for g in reported & set(self.home_rows)):
                self.show_home()  # a home server known here only by its id: the bot knows its name

    def servers_for_state(self, state: str) -> None:
        if state in ("starting", "running"):  # bot.ALIVE
            if self.servers is None:
                self.show_servers(None, note=WAITING)
        elif self.servers is not None or self.servers_note.cget("text") != NOT_RUNNING:
            self.show_servers(None)

    # -- leaving, behind a confirmation ----------------------------------------------------------------------------
    def confirm_leave(self, guild_id: int, name: str) -> None:
        self.close_leave_dialog()
        self.leave_dialog = ctk.CTkToplevel(self)
        self.leave_dialog.title("Leave a server")
        self.leave_dialog.grid_columnconfigure(0, weight=1)
        self.leave_text = ctk.CTkLabel(self.leave_dialog, text=f"Leave {name}? The bot can only come back through "
                                       "a new invite.", justify="left", anchor="w", wraplength=420)
        self.leave_text.grid(row=0, column=0, columnspan=2, padx=16, pady=(16, 10), sticky="w")
        self.leave_confirm = Button(self.leave_dialog, text="Leave", fg_color=DANGER, hover_color=DANGER_HOVER,
                                    command=lambda: self.leave_confirmed(guild_id, name))
        self.leave_confirm.grid(row=1, column=0, padx=16, pady=(0, 14), sticky="e")
        self.leave_cancel = Button(self.leave_dialog, text="Stay", command=self.close_leave_dialog)
        self.leave_cancel.grid(row=1, column=1, padx=(0, 16), pady=(0, 14))
        present(self.leave_dialog, self)

    def close_leave_dialog(self) -> None:
        if self.leave_dialog is not None:
            self.leave_dialog.destroy()
            self.leave_dialog = None

    def leave_confirmed(self, guild_id: int, name: str) -> None:
        self.close_leave_dialog()
        sent = self.run(self.actions.leave_guild, guild_id)
        if self.failed:
            return
        if sent:
            self.banner.show(f"The bot is leaving {name}", "it drops off this list with its next report", kind="info")
        else:
            self.banner.show(f"Could not leave {name}: the bot is not running", "start the bot, then try again")
