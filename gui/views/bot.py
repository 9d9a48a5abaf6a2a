"""Bot: start / stop / restart with the supervisor's state, the bot's live log, and its settings (persona, rate,
temperature, max length, mentions-only, webhook mode per channel, capture): the same rows the slash commands change,
so a change made in Discord shows here (re-read when the settings version moves) and a change here reaches the bot.
The home servers and the servers the bot is in are two cards of their own (gui/views/bot_servers.py)."""
from __future__ import annotations

import customtkinter as ctk

from gui.views.base import PageView
from gui.views.bot_servers import ServerCards
from gui.widgets.logview import LogView
from gui.widgets.tooltip import Tooltip
from gui.widgets.button import Button
from gui.widgets.wrap import wrap_to

BOT_JOB_ID = "bot"   # bot_controller.protocol.BOT_JOB_ID
NO_PERSONA = "(automatic)"
AUTOMATIC_TIP = ("(automatic): the bot answers as the persona with the most training examples in its model's "
                 "dataset; choose a persona to make it answer as that one instead")
AUTOMATIC_STOPPED = "the persona with the most training examples: start the bot to see who"
AUTOMATIC_UNKNOWN = "the persona with the most training examples in the model's dataset"
ALIVE = ("starting", "running")
NUMBER_FIELDS = (("rate", "Reply rate", "chance of answering an unaddressed message (0–1)", float),
                 ("temperature", "Temperature", "sampling temperature (0–2): higher is more surprising", float),
                 ("max_tokens", "Max length (tokens)", "longest reply in tokens (1–1024)", int))
SWITCH_FIELDS = (("mentions_only", "Mentions only", "answer only mentions of the bot and replies to it"),
                 ("capture", "Capture", "store live messages of allowlisted channels (and add them to memory)"))


class BotView(ServerCards, PageView):
    TITLE = "Bot"

    def __init__(self, master, actions, bus) -> None:
        super().__init__(master, actions, bus)
        self.grid_rowconfigure(6, weight=1)
        self._build_controls()
        self._build_settings()
        self._build_servers(row=4)
        ctk.CTkLabel(self, text="Live log of the bot", anchor="w", font=ctk.CTkFont(weight="bold")).grid(
            row=5, column=0, sticky="w", padx=16, pady=(6, 0))
        self.log = LogView(self, height=160, placeholder="the bot's log appears here once it starts (Start above)")
        self.log.grid(row=6, column=0, sticky="nsew", padx=16, pady=(2, 14))
        self.settings = None
        self.automatic: dict | None = None  # the heartbeat's "persona" while the bot answers as the automatic one
        self.bot_alive = False
        self.load_settings()

    def _build_controls(self) -> None:
        row = ctk.CTkFrame(self, fg_color="transparent")
        row.grid(row=2, column=0, sticky="ew", padx=16, pady=4)
        self.start_button = Button(row, text="Start", width=90, command=self.start)
        self.stop_button = Button(row, text="Stop", width=90, command=self.stop)
        self.restart_button = Button(row, text="Restart", width=90, command=self.restart)
        for column, button in enumerate((self.start_button, self.stop_button, self.restart_button)):
            button.grid(row=0, column=column, padx=(0, 8))
        self.state_label = ctk.CTkLabel(row, text="stopped", anchor="w", font=ctk.CTkFont(weight="bold"))
        self.state_label.grid(row=0, column=3, padx=12, sticky="w")
        self._enable_for("stopped")

    def _build_settings(self) -> None:
        form = ctk.CTkFrame(self)
        form.grid(row=3, column=0, sticky="ew", padx=16, pady=4)
        self.form = form
        ctk.CTkLabel(form, text="Persona").grid(row=0, column=0, sticky="w", padx=12, pady=4)
        self.persona_menu = ctk.CTkOptionMenu(form, values=[NO_PERSONA], width=240,
                                              command=lambda _choice: self.show_persona_note())
        self.persona_menu.grid(row=0, column=1, sticky="w", pady=4)
        Tooltip(self.persona_menu, AUTOMATIC_TIP)
        self.persona_note = ctk.CTkLabel(form, text="", anchor="w", justify="left", text_color=("gray30", "gray70"))
        self.persona_note.grid(row=0, column=2, columnspan=4, sticky="w", padx=12, pady=4)
        wrap_to(self.persona_note, form)
        self.entries: dict[str, ctk.CTkEntry] = {}
        for index, (key, label, tip, _kind) in enumerate(NUMBER_FIELDS):
            text = ctk.CTkLabel(form, text=label)
            text.grid(row=1 + index // 3, column=2 * (index % 3), sticky="w", padx=12, pady=4)
            entry = ctk.CTkEntry(form, width=90)
            entry.grid(row=1 + index // 3, column=2 * (index % 3) + 1, sticky="w", pady=4)
            Tooltip(text, tip)
            self.entries[key] = entry
        self.switches: dict[str, ctk.CTkSwitch] = {}
        for index, (key, label, tip) in enumerate(SWITCH_FIELDS):
            switch = ctk.CTkSwitch(form, text=label)
            switch.grid(row=2, column=2 * index, columnspan=2, sticky="w", padx=12, pady=4)
            Tooltip(switch, tip)
            self.switches[key] = switch
        self.webhook_frame = ctk.CTkFrame(form, fg_color="transparent")
        self.webhook_frame.grid(row=3, column=0, columnspan=6, sticky="w", padx=12, pady=(2, 4))
        self.webhook_switches: dict[int, ctk.CTkSwitch] = {}
        self.apply_button = Button(form, text="Apply settings", command=self.apply)
        self.apply_button.grid(row=4, column=0, padx=12, pady=(4, 10), sticky="w")

    # -- settings both ways ----------------------------------------------------------------------------------------
    def load_settings(self) -> None:
        settings = self.run(self.actions.bot_settings)
        if settings is None:
            return
        self.settings = settings
        self.personas = self.run(self.actions.persona_choices) or []
        labels = [NO_PERSONA] + [f"{name} ({user_id})" for user_id, name in self.personas]
        self.persona_menu.configure(values=labels)
        chosen = next((label for (user_id, _n), label in zip(self.personas, labels[1:])
                       if user_id == settings.persona_id), NO_PERSONA)
        self.persona_menu.set(chosen)
        for key, entry in self.entries.items():
            entry.delete(0, "end")
            entry.insert(0, str(getattr(settings, key)))
        for key, switch in self.switches.items():
            (switch.select if getattr(settings, key) else switch.deselect)()
        self._build_webhooks(settings)
        self.version = self.run(self.actions.bot_settings_version)
        self.show_persona_note()
        self.show_home()

    def show_persona_note(self) -> None:
        """Who answers while the menu says (automatic): the running bot's own account of it, or what it will do."""
        if self.persona_menu.get() != NO_PERSONA:
            text = ""
        elif self.automatic is not None:
            text = f"answering as {self.automatic.get('name') or self.automatic.get('id')}"
            text += f": {self.automatic['why']}" if self.automatic.get("why") else ""
        else:
            text = AUTOMATIC_UNKNOWN if self.bot_alive else AUTOMATIC_STOPPED
        self.persona_note.configure(text=text)

    def _build_webhooks(self, settings) -> None:
        for switch in self.webhook_switches.values():
            switch.destroy()
        self.webhook_switches.clear()
        channels = self.run(self.actions.allowlisted_channels) or []
        if not channels:
            ctk.CTkLabel(self.webhook_frame, text="Webhook mode: no allowlisted channel yet (Data page)").grid(
                row=0, column=0, sticky="w")
            return
        ctk.CTkLabel(self.webhook_frame, text="Webhook mode:").grid(row=0, column=0, sticky="w", padx=(0, 8))
        for index, (channel_id, name) in enumerate(channels, start=1):
            switch = ctk.CTkSwitch(self.webhook_frame, text=f"#{name}")
            override = settings.channels.get(channel_id)
            (switch.select if override is not None and override.webhook else switch.deselect)()
            switch.grid(row=0, column=index, padx=4, sticky="w")
            self.webhook_switches[channel_id] = switch

    def form_values(self) -> dict:
        """What the form says now, typed (ValueError naming the field when a number is not one)."""
        values: dict = {}
        for key, label, _tip, kind in NUMBER_FIELDS:
            text = self.entries[key].get().strip()
            try:
                values[key] = kind(text)
            except ValueError:
                raise ValueError(f"{label}: {text!r} is not a {'whole ' if kind is int else ''}number") from None
        for key, switch in self.switches.items():
            values[key] = bool(switch.get())
        label = self.persona_menu.get()
        values["persona_id"] = next((user_id for (user_id, _n), shown in
                                     zip(self.personas, self.persona_menu.cget("values")[1:]) if shown == label), None)
        return values

    def apply(self) -> None:
        try:
            values = self.form_values()
        except ValueError as exc:
            self.banner.show(str(exc), "fix the value and apply again")
            return
        current = self.settings
        for key, value in values.items():
            if current is None or getattr(current, key) != value:
                self.run(self.actions.set_bot_setting, key, value)
                if self.failed:
                    return
        for channel_id, switch in self.webhook_switches.items():
            override = current.channels.get(channel_id) if current is not None else None
            wanted = bool(switch.get())
            if (override.webhook if override is not None else False) != wanted:
                self.run(self.actions.set_channel_webhook, channel_id, wanted)
        self.banner.show("Settings saved", "a running bot picks them up within seconds", kind="ok")
        self.load_settings()

    # -- controls --------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.run(self.actions.start_bot)

    def stop(self) -> None:
        self.run(self.actions.stop_bot)

    def restart(self) -> None:
        self.run(self.actions.restart_bot)

    def _enable_for(self, state: str) -> None:
        alive = state in ("starting", "running", "stopping", "backoff")
        self.start_button.configure(state="disabled" if alive else "normal")
        self.stop_button.configure(state="normal" if alive else "disabled")
        self.restart_button.configure(state="normal" if state in ("running", "backoff", "fatal", "exited")
                                      else "disabled")

    def on_show(self) -> None:
        if not self.run(self.actions.token_status) and not self.failed:
            self.banner.show("The bot has no token yet", "add it on the Settings page (it goes to the OS keyring); "
                             "Start stays refused until then", kind="info")
        status = self.actions.bot_status()
        if status is not None:
            state = getattr(status.state, "value", status.state)
            self.state_label.configure(text=state + (f": {status.reason}" if status.reason else ""))
            self._enable_for(state)
            self.servers_for_state(state)
            self.bot_alive = state in ALIVE
            self.show_persona_note()
        self.reload_if_changed()  # another page changed them (allowlisting a channel adds a home server)

    def reload_if_changed(self) -> None:
        version = self.run(self.actions.bot_settings_version)
        if version is not None and version != getattr(self, "version", None):
            self.load_settings()

    # -- events ----------------------------------------------------------------------------------------------------
    def on_bot_state_changed(self, event) -> None:
        text = event.state + (" (paused)" if event.paused else "") + (f": {event.reason}" if event.reason else "")
        if event.retry_in:
            text += f" (retry in {event.retry_in:.0f}s)"
        self.state_label.configure(text=text, text_color=("#b00020", "#ff6b6b") if event.error else
                                   ("gray10", "gray90"))
        self._enable_for(event.state)
        self.servers_for_state(event.state)
        self.bot_alive = event.state in ALIVE
        if not self.bot_alive:
            self.automatic = None
        self.show_persona_note()
        if event.error:
            self.banner.show(f"The bot stopped: {event.reason or event.state}",
                             "check the token on the Settings page and the log below, then start it again")

    def on_log_line(self, event) -> None:
        if event.job_id == BOT_JOB_ID:
            self.log.append(event.text)

    def on_bot_heartbeat(self, event) -> None:
        self.reload_if_changed()  # a slash command changed them
        details = event.details or {}
        self.servers_from_heartbeat(details)
        persona = details.get("persona")
        automatic = persona if isinstance(persona, dict) and persona.get("automatic") else None
        if automatic != self.automatic:
            self.automatic = automatic
            self.show_persona_note()
