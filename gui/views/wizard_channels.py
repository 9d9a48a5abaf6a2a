"""The wizard's second step: the bot's servers and channels, live, with a checkbox each; the ticked ones are
allowlisted. A mixin of ``WizardView`` (it uses the page's ``body``, ``actions``, ``run`` and ``banner``).

The live listing is the CLI's `channels list --json` run as a job (the panel never talks to Discord in its own
process); until it answers, and when it cannot (no token, no network), the stored channels are shown. A ticked
channel that is not stored yet is stored and allowlisted by a `channels add` job, the others locally.
"""
from __future__ import annotations

import customtkinter as ctk

from gui.live_channels import ListingError, LiveChannel, parse_listing
from gui.widgets.button import Button

ENDED = ("finished", "stopped", "failed")
MAX_SHOWN = 60  # a wizard is not the Data page: a huge server is finished there


class ChannelsStep:
    listing_job: str | None = None
    add_job: str | None = None

    def _channels_step(self) -> None:
        self.channel_boxes: dict[int, ctk.CTkCheckBox] = {}
        self.channels_shown: dict[int, LiveChannel] = {}
        self.listing_lines: list[str] = []
        head = ctk.CTkFrame(self.body, fg_color="transparent")
        head.grid(row=0, column=0, sticky="ew")
        head.grid_columnconfigure(0, weight=1)
        self.channels_note = ctk.CTkLabel(head, text="", anchor="w", justify="left", wraplength=600)
        self.channels_note.grid(row=0, column=0, sticky="w")
        self.list_button = Button(head, text="List the bot's channels", width=170, command=self.list_live)
        self.list_button.grid(row=0, column=1, padx=(8, 0))
        self.channel_frame = ctk.CTkScrollableFrame(self.body, height=170, width=760)
        self.channel_frame.grid(row=1, column=0, sticky="ew", pady=(4, 0))
        stored = [LiveChannel(channel_id, *_split(label), None, allowlisted, True, None)
                  for channel_id, label, allowlisted in self.run(self.actions.channel_choices) or []]
        self.show_channels(stored)
        if self.run(self.actions.token_status):
            self.list_live()
        else:
            self.list_button.configure(state="disabled")
            self.channels_note.configure(text="No bot token yet (step 1), so only stored channels are shown. "
                                              "Tick the channels the bot may learn from and answer in.")

    def list_live(self) -> None:
        job_id = self.run(self.actions.list_live_channels)
        if job_id is None:
            return
        self.listing_job, self.listing_lines = job_id, []
        self.list_button.configure(state="disabled")
        self.channels_note.configure(text="Asking Discord for the bot's servers and channels…")

    def show_channels(self, channels: list[LiveChannel]) -> None:
        for child in self.channel_frame.winfo_children():
            child.destroy()
        ticked = {cid for cid, box in self.channel_boxes.items() if box.get()}
        self.channel_boxes, self.channels_shown = {}, {}
        if not channels:
            ctk.CTkLabel(self.channel_frame, anchor="w", justify="left", wraplength=700, text=(
                "No channels yet. Invite the bot to your server (README: inviting the bot), or import a "
                "DiscordChatExporter export on the Data page after the wizard.")).grid(row=0, column=0, sticky="w")
            return
        row, guild = 0, None
        for channel in channels[:MAX_SHOWN]:
            if channel.guild != guild:
                guild = channel.guild
                ctk.CTkLabel(self.channel_frame, text=guild, font=ctk.CTkFont(weight="bold"), anchor="w").grid(
                    row=row, column=0, sticky="w", pady=(4 if row else 0, 0))
                row += 1
            unreadable = "   (the bot cannot read it)" if channel.readable is False else ""
            box = ctk.CTkCheckBox(self.channel_frame, text=f"#{channel.name}{unreadable}")
            (box.select if channel.allowlisted or channel.id in ticked else box.deselect)()
            box.grid(row=row, column=0, sticky="w", padx=(16, 0), pady=1)
            self.channel_boxes[channel.id] = box
            self.channels_shown[channel.id] = channel
            row += 1

    # -- the listing job's events (WizardView forwards them) ---------------------------------------------------------
    def on_log_line(self, event) -> None:
        if event.job_id == self.listing_job and event.stream == "stdout":
            self.listing_lines.append(event.text)

    def channels_job_ended(self, event) -> bool:
        """A JobStateChanged of the listing or the add job; True when it was one of them."""
        if event.job_id == self.listing_job and event.state in ENDED:
            self.listing_job = None
            if self.step == 1 and event.state == "finished":
                self._listing_arrived()
            return True
        if event.job_id == self.add_job and event.state == "finished":
            self.add_job = None
            return True
        return False

    def _listing_arrived(self) -> None:
        self.list_button.configure(state="normal", text="List again")
        try:
            channels = parse_listing(self.listing_lines)
        except ListingError as exc:
            self.channels_note.configure(text=f"The listing did not work: {exc}. The stored channels are shown.")
            return
        self.show_channels(channels)
        guilds = len({channel.guild for channel in channels})
        self.channels_note.configure(text=f"{_count(len(channels), 'channel')} in {_count(guilds, 'server')}. "
                                          "Tick the channels the bot may learn from and answer in.")

    def channels_job_failed(self, event) -> bool:
        if event.job_id == self.listing_job:
            self.listing_job = None
            if self.step == 1:
                self.list_button.configure(state="normal", text="List again")
                self.channels_note.configure(text=f"Could not list the bot's channels: {event.message}. "
                                                  "The stored channels are shown.")
            return True
        if event.job_id == self.add_job:
            self.add_job = None
            self.banner.show(f"The ticked channels were not allowlisted: {event.message}",
                             event.advice or "tick them again on the Data page after a fetch")
            return True
        return False

    def save_channels(self) -> bool:
        """Allowlist the ticked channels: stored ones here, new ones through `channels add` (a job)."""
        ticked = [cid for cid, box in self.channel_boxes.items() if box.get()]
        untouched = [cid for cid, box in self.channel_boxes.items() if not box.get()
                     and self.channels_shown[cid].stored]
        stored = [cid for cid in ticked if self.channels_shown[cid].stored]
        new = [cid for cid in ticked if not self.channels_shown[cid].stored]
        if stored:
            self.run(self.actions.set_allowlist, stored, True)
        if untouched and not self.failed:
            self.run(self.actions.set_allowlist, untouched, False)
        if new and not self.failed:
            self.add_job = self.run(self.actions.add_live_channels, new)
        return not self.failed


def _split(label: str) -> tuple[str, str]:
    guild, _, name = label.partition(" / #")
    return guild, name


def _count(number: int, word: str) -> str:
    return f"{number} {word}" + ("" if number == 1 else "s")
