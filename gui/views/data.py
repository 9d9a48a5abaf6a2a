"""Data: the channel allowlist (checkboxes), import of exports (file and folder pickers) and fetch of the allowlisted
channels (progress and cancel), and the statistics of what is stored: counts, messages over time, top authors.

The statistics scan the messages table, so they are computed on a thread (``actions.in_background``) and drawn when
their ``TaskFinished`` arrives; they are refreshed after every import or fetch.
"""
from __future__ import annotations

from tkinter import filedialog

import customtkinter as ctk

from gui.views.base import PageView, fact_row, plural
from gui.widgets.job_row import JobRow
from gui.widgets.button import Button

STATS_TASK = "data-stats"
EXPORT_TYPES = [("Discord exports", "*.json *.csv *.zip"), ("All files", "*")]


class DataView(PageView):
    TITLE = "Data"

    def __init__(self, master, actions, bus) -> None:
        super().__init__(master, actions, bus)
        self.grid_rowconfigure(3, weight=1)
        self.checkboxes: dict[int, ctk.CTkCheckBox] = {}
        self.charts = None
        self.top = ctk.CTkFrame(self, fg_color="transparent")
        self.top.grid(row=2, column=0, sticky="ew", padx=4)
        self.top.grid_columnconfigure(0, weight=1, uniform="top")
        self.top.grid_columnconfigure(1, weight=1, uniform="top")
        self._build_channels()
        self._build_jobs()
        self._build_stats()
        self.refresh_channels()
        self.refresh_stats()

    # -- building ---------------------------------------------------------------------------------------------------
    def _build_channels(self) -> None:
        card = self.card(0, "Channels (the allowlist)", parent=self.top)
        card.grid_configure(padx=(12, 6))
        hint = ctk.CTkLabel(card, text="Ticked channels are fetched, and the bot may read and answer there.",
                            anchor="w", wraplength=440, justify="left", text_color=("gray30", "gray70"))
        hint.grid(row=2, column=0, columnspan=2, sticky="w", padx=12, pady=(0, 8))
        self.channel_list = ctk.CTkScrollableFrame(card, height=96)
        self.channel_list.grid(row=1, column=0, columnspan=2, sticky="ew", padx=12, pady=(0, 8))
        self.channel_list.grid_columnconfigure(0, weight=1)
        self.no_channels = ctk.CTkLabel(self.channel_list, text="No channels yet: import an export or fetch.",
                                        anchor="w")

    def _build_jobs(self) -> None:
        card = self.card(0, "Import and fetch", column=1, parent=self.top)
        card.grid_configure(padx=(6, 12))
        buttons = ctk.CTkFrame(card, fg_color="transparent")
        buttons.grid(row=1, column=0, columnspan=2, sticky="w", padx=12)
        self.import_files_button = Button(buttons, text="Import files…", width=120, command=self.pick_files)
        self.import_folder_button = Button(buttons, text="Import a folder…", width=120,
                                                  command=self.pick_folder)
        self.fetch_button = Button(buttons, text="Fetch allowlisted channels", command=self.fetch)
        self.import_files_button.grid(row=0, column=0, padx=(0, 8), pady=4)
        self.import_folder_button.grid(row=0, column=1, padx=(0, 8), pady=4)
        self.fetch_button.grid(row=1, column=0, columnspan=2, sticky="w", pady=4)
        self.import_row = JobRow(card, "Import", self.actions.stop_job, on_end=self.job_ended)
        self.import_row.grid(row=2, column=0, columnspan=2, sticky="ew", padx=12, pady=(8, 2))
        self.fetch_row = JobRow(card, "Fetch", self.actions.stop_job, on_end=self.job_ended)
        self.job_rows = (self.import_row, self.fetch_row)
        self.fetch_row.grid(row=3, column=0, columnspan=2, sticky="ew", padx=12, pady=(2, 8))

    def _build_stats(self) -> None:
        card = self.card(3, "What is stored")
        card.grid_rowconfigure(2, weight=1)
        facts = ctk.CTkFrame(card, fg_color="transparent")
        facts.grid(row=1, column=0, columnspan=2, sticky="ew", padx=(0, 12))  # inside the rounded edge
        names = (("messages", "Messages"), ("authors", "Authors"), ("channels", "Channels with messages"),
                 ("range", "Time span"))
        self.facts = {}
        for index, (key, label) in enumerate(names):
            holder = ctk.CTkFrame(facts, fg_color="transparent")
            holder.grid(row=index // 2, column=index % 2, sticky="w", padx=(0, 24))
            self.facts[key] = fact_row(holder, 0, label)
        self.chart_frame = ctk.CTkFrame(card, fg_color="transparent")
        self.chart_frame.grid(row=2, column=0, columnspan=2, sticky="nsew", padx=8, pady=(0, 8))
        self.chart_frame.grid_columnconfigure((0, 1), weight=1)
        self.chart_frame.grid_rowconfigure(0, weight=1)

    # -- the allowlist ----------------------------------------------------------------------------------------------
    def refresh_channels(self) -> None:
        channels = self.run(self.actions.channel_choices) or []
        for box in self.checkboxes.values():
            box.destroy()
        self.checkboxes.clear()
        if not channels:
            self.no_channels.grid(row=0, column=0, sticky="w")
            return
        self.no_channels.grid_remove()
        for row, (channel_id, label, allowlisted) in enumerate(channels):
            box = ctk.CTkCheckBox(self.channel_list, text=label,
                                  command=lambda cid=channel_id: self.toggle(cid))
            box.grid(row=row, column=0, sticky="w", pady=1)
            if allowlisted:
                box.select()
            self.checkboxes[channel_id] = box

    def toggle(self, channel_id: int) -> None:
        box = self.checkboxes[channel_id]
        wanted = bool(box.get())
        self.run(self.actions.set_allowlist, [channel_id], wanted)
        if self.failed:  # the box shows what is stored, not what was wished
            box.deselect() if wanted else box.select()

    # -- jobs -------------------------------------------------------------------------------------------------------
    def pick_files(self) -> None:
        paths = filedialog.askopenfilenames(parent=self, title="Discord exports to import", filetypes=EXPORT_TYPES)
        if paths:
            self.import_paths(list(paths))

    def pick_folder(self) -> None:
        folder = filedialog.askdirectory(parent=self, title="A folder of Discord exports")
        if folder:
            self.import_paths([folder])

    def import_paths(self, paths: list) -> None:
        if self.import_row.running:
            self.banner.show("an import is already running", "wait for it or cancel it", kind="info")
            return
        job_id = self.run(self.actions.start_import, paths)
        if job_id:
            self.import_row.track(job_id)

    def fetch(self) -> None:
        if self.fetch_row.running:
            return
        job_id = self.run(self.actions.start_fetch)
        if job_id:
            self.fetch_row.track(job_id)

    def job_ended(self, state: str, _event) -> None:
        self.refresh_channels()
        self.refresh_stats()

    # -- statistics -------------------------------------------------------------------------------------------------
    def refresh_stats(self) -> None:
        self.facts["messages"].configure(text="counting…")
        self.actions.in_background(STATS_TASK, self.actions.data_stats)

    def on_task_finished(self, event) -> None:
        if event.task != STATS_TASK:
            return
        if event.error:
            self.banner.show(*event.error)
            return
        self.show_stats(event.result)

    def show_stats(self, stats: dict) -> None:
        self.stats = stats
        self.facts["messages"].configure(text=f"{stats['messages']:,} ({plural(stats['replies'], 'reply')}, "
                                              f"{plural(stats['reactions'], 'reaction')})")
        bots = stats["bots"]
        self.facts["authors"].configure(text=f"{stats['authors']:,} ({'no bots' if not bots else plural(bots, 'bot')})"
                                        if stats["authors"] else "0")
        self.facts["channels"].configure(text=f"{stats['channels']:,}")
        first, last = (stats.get("first") or "")[:10], (stats.get("last") or "")[:10]
        self.facts["range"].configure(text=f"{first} – {last}" if first else "—")
        if not stats["messages"]:
            return
        if self.charts is None:
            from gui.widgets.chart import Chart  # matplotlib loads with the first chart, not at startup
            self.charts = (Chart(self.chart_frame, title="Messages per month", width=4.6, height=2.3),
                           Chart(self.chart_frame, title="Top authors", width=4.6, height=2.3))
            for column, chart in enumerate(self.charts):
                chart.grid(row=0, column=column, sticky="nsew", padx=4)
        over_time, authors = self.charts
        months = [month for month, _ in stats["per_month"]]
        over_time.bars(months, [count for _, count in stats["per_month"]])
        over_time.axes.tick_params(axis="x", labelrotation=45, labelsize=7)
        top = stats["top_authors"]
        authors.bars([(a["name"] or str(a["id"]))[:18] for a in top], [a["messages"] for a in top], horizontal=True)
