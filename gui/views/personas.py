"""Personas: the list with message counts, rename, describe, the automatic style profile and its line (the Style
section, personas_style.py), opt-out, and forget behind a confirmation that says what will be deleted; the share
of each persona in the latest dataset before and after balancing, as a chart.

Opt-out and forget edit the memory index (which the panel's process never opens) and rewrite files, so they run
as jobs (the CLI's ``personas optout`` / ``forget``); the list is reloaded when the job ends.
"""
from __future__ import annotations

import tkinter

import customtkinter as ctk

from gui.views.base import PageView, plural
from gui.views.personas_style import StyleSection
from gui.widgets.button import Button
from gui.widgets.dialog import present

SELECTED = ("gray78", "gray28")
DESCRIPTION_HEIGHT = 52  # px: two lines; the Style section below needs the room
CHART_HEIGHT = 2.0       # inches: the chart gives up some height to the Style section
CARD_PADY = 6            # PageView.card's vertical padding


class PersonasView(StyleSection, PageView):
    TITLE = "Personas"

    def __init__(self, master, actions, bus) -> None:
        super().__init__(master, actions, bus)
        self.grid_rowconfigure(2, weight=1)
        self.people: list = []
        self.selected = None
        self.rows: dict[int, ctk.CTkButton] = {}
        self.dialog = None
        self.chart = None
        body = ctk.CTkFrame(self, fg_color="transparent")
        body.grid(row=2, column=0, sticky="nsew", padx=4)
        body.grid_columnconfigure(0, weight=2)
        body.grid_columnconfigure(1, weight=3)
        body.grid_rowconfigure(0, weight=1)
        self.body = body
        self._build_list()
        self._build_editor()
        self.chart_card = self.card(3, "Share of the training set, before and after balancing (latest dataset)")
        self.chart_note = ctk.CTkLabel(self.chart_card, text="", anchor="w")
        self.chart_note.grid(row=1, column=0, columnspan=2, sticky="w", padx=12, pady=(0, 8))
        self.chart_card.grid_rowconfigure(2, weight=1)
        tkinter.Misc.bind(self.style_profile, "<Configure>", self.fit_rows, "+")  # a re-wrapped profile
        self.refresh()

    def fit_rows(self, _event=None) -> None:
        """In a short window the chart gives up height, never the persona's editor: the body's row keeps at least
        the height the editor asks for (it changes as the profile wraps)."""
        if self.winfo_exists():
            padding = round(2 * CARD_PADY * self._get_widget_scaling())  # CTk scales the card's pady, not minsize
            self.grid_rowconfigure(2, minsize=self.editor.winfo_reqheight() + padding)

    def _build_list(self) -> None:
        card = self.card(0, "People", parent=self.body)
        card.grid_configure(padx=(12, 6))
        card.grid_rowconfigure(1, weight=1)
        self.listing = ctk.CTkScrollableFrame(card, height=200)
        self.listing.grid(row=1, column=0, columnspan=2, sticky="nsew", padx=8, pady=(0, 8))
        self.listing.grid_columnconfigure(0, weight=1)

    def _build_editor(self) -> None:
        card = self.card(0, "Selected persona", column=1, parent=self.body)
        card.grid_configure(padx=(6, 12))
        self.editor = card
        self.heading = ctk.CTkLabel(card, text="Pick someone in the list.", anchor="w", justify="left")
        self.heading.grid(row=1, column=0, columnspan=3, sticky="w", padx=12, pady=(0, 6))
        ctk.CTkLabel(card, text="Name").grid(row=2, column=0, sticky="w", padx=12)
        self.name_entry = ctk.CTkEntry(card)
        self.name_entry.grid(row=2, column=1, sticky="ew", pady=3)
        self.rename_button = Button(card, text="Rename", width=90, command=self.rename)
        self.rename_button.grid(row=2, column=2, padx=12, sticky="ew")  # as wide as the Style section's buttons
        ctk.CTkLabel(card, text="Description").grid(row=3, column=0, sticky="nw", padx=12, pady=3)
        self.description = ctk.CTkTextbox(card, height=DESCRIPTION_HEIGHT, wrap="word")
        self.description.grid(row=3, column=1, sticky="ew", pady=3)
        self.describe_button = Button(card, text="Save", width=90, command=self.describe)
        self.describe_button.grid(row=3, column=2, padx=12, sticky="new", pady=3)
        row = self._build_style(card, 4)
        consent = ctk.CTkFrame(card, fg_color="transparent")  # one row: the page must fit the window's height
        consent.grid(row=row, column=0, columnspan=3, sticky="ew", padx=12, pady=(6, 10))
        consent.grid_columnconfigure(0, weight=1)
        self.opt_out_switch = ctk.CTkSwitch(consent, text="Opted out (never a persona, hidden in every prompt)",
                                            command=self.toggle_opt_out)
        self.opt_out_switch.grid(row=0, column=0, sticky="w")
        self.forget_button = Button(consent, text="Forget this person…", fg_color="#b02a37",
                                    hover_color="#8c1f2a", command=self.confirm_forget)
        self.forget_button.grid(row=0, column=1, sticky="e")
        self._enable(False)

    def _enable(self, enabled: bool) -> None:
        state = "normal" if enabled else "disabled"
        for widget in (self.rename_button, self.describe_button, self.opt_out_switch, self.forget_button):
            widget.configure(state=state)

    # -- the list ---------------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        people = self.run(self.actions.personas)
        self.people = list(people or [])
        for row in self.rows.values():
            row.destroy()
        self.rows.clear()
        if not self.people:
            label = Button(self.listing, text="No personas yet: import messages on the Data page.",
                                  fg_color="transparent", text_color=("gray10", "gray90"), anchor="w", hover=False)
            label.grid(row=0, column=0, sticky="ew")
            self.rows[0] = label
        for number, person in enumerate(self.people):
            flag = "  · opted out" if person.opted_out else ""
            row = Button(self.listing, text=f"{person.name}   {plural(person.messages, 'message')}{flag}", anchor="w",
                                fg_color="transparent", text_color=("gray10", "gray90"),
                                hover_color=("gray80", "gray30"), command=lambda p=person: self.select(p.id))
            row.grid(row=number, column=0, sticky="ew", pady=1)
            self.rows[person.id] = row
        self.select(self.selected.id if self.selected is not None else None)
        self.show_shares()

    def select(self, user_id: int) -> None:
        person = next((p for p in self.people if p.id == user_id), None)
        self.selected = person
        for row_id, row in self.rows.items():
            row.configure(fg_color=SELECTED if row_id == user_id else "transparent")
        self._enable(person is not None)
        self.show_style(person)
        self.after_idle(self.fit_rows)
        self.name_entry.delete(0, "end")
        self.description.delete("1.0", "end")
        if person is None:  # nobody picked yet, or the one picked is gone (forgotten): show nothing of theirs
            self.heading.configure(text="Pick someone in the list.")
            return
        names = " / ".join(n for n in (person.display_name, person.user_name) if n)
        self.heading.configure(text=f"{person.name} ({person.id}) · {plural(person.messages, 'message')}"
                                    + (f"\nin Discord: {names}" if names else ""))
        self.name_entry.insert(0, person.name)
        self.description.insert("1.0", person.description or "")
        self.opt_out_switch.select() if person.opted_out else self.opt_out_switch.deselect()

    # -- edits ------------------------------------------------------------------------------------------------------
    def rename(self) -> None:
        if self.selected is not None:
            self.run(self.actions.rename_persona, self.selected.id, self.name_entry.get())
            self.refresh()

    def describe(self) -> None:
        if self.selected is not None:
            self.run(self.actions.describe_persona, self.selected.id, self.description.get("1.0", "end"))
            self.refresh()

    def toggle_opt_out(self) -> None:
        if self.selected is None:
            return
        wanted = bool(self.opt_out_switch.get())
        job_id = self.run(self.actions.set_opted_out, self.selected.id, wanted)
        if job_id:  # the opt-out runs as a job (it edits the memory index); the list refreshes when it ends
            self.follow(job_id, "opt-out", self.selected.name)
        else:
            self.refresh()

    def confirm_forget(self) -> None:
        """A dialog that says exactly what forget deletes; nothing happens until Forget is pressed there."""
        if self.selected is None:
            return
        preview = self.run(self.actions.forget_preview, self.selected.id)
        if preview is None:
            return
        held = preview["artifacts"]
        listing = "\n".join(f"  · {kind}: {path}" for kind, path in held[:8])
        more = f"\n  · … and {len(held) - 8} more" if len(held) > 8 else ""
        text = (f"Forget {self.selected.name} ({self.selected.id})?\n\n"
                f"Deleted: their {plural(preview['messages'], 'stored message')} and reactions on them, their "
                f"memories, and the files built from their text"
                + (f":\n{listing}{more}" if held else " (none so far).")
                + "\nTrained weights cannot be edited: they are marked stale and must be retrained.\n"
                  "They stay opted out, so a later import or fetch does not bring them back. This cannot be undone.")
        self.dialog = ctk.CTkToplevel(self)
        self.dialog.title("Forget a person")
        self.dialog.grid_columnconfigure(0, weight=1)
        self.dialog_text = ctk.CTkLabel(self.dialog, text=text, justify="left", anchor="w", wraplength=520)
        self.dialog_text.grid(row=0, column=0, columnspan=2, padx=16, pady=(16, 10), sticky="w")
        self.dialog_confirm = Button(self.dialog, text="Forget", fg_color="#b02a37",
                                            command=self.forget_confirmed)
        self.dialog_confirm.grid(row=1, column=0, padx=16, pady=(0, 14), sticky="e")
        Button(self.dialog, text="Keep", command=self.close_dialog).grid(row=1, column=1, padx=16,
                                                                             pady=(0, 14))
        present(self.dialog, self)

    def close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.destroy()
            self.dialog = None

    def forget_confirmed(self) -> None:
        person = self.selected
        self.close_dialog()
        if person is None:
            return
        job_id = self.run(self.actions.forget_persona, person.id)
        if job_id:
            self.forget_button.configure(state="disabled", text="Forgetting…")
            self.follow(job_id, "forget", person.name)

    def follow(self, job_id: str, kind: str, name: str) -> None:
        self.privacy_job = {"id": job_id, "kind": kind, "name": name, "failure": None}
        self.banner.show(f"{kind} of {name} is running…", "the list refreshes when it is done", kind="info")

    def on_job_failed(self, event) -> None:
        job = getattr(self, "privacy_job", None)
        if job is not None and event.job_id == job["id"]:
            job["failure"] = (event.message, event.advice, event.last_lines)

    def on_job_state_changed(self, event) -> None:
        job = getattr(self, "privacy_job", None)
        if job is None or event.job_id != job["id"] or event.state not in ("finished", "stopped", "failed"):
            return
        self.privacy_job = None
        self.forget_button.configure(text="Forget this person…")
        if event.state == "finished":
            advice = "prepare and train again: what was built from their text is stale"
            self.banner.show(f"{job['name']}: {job['kind']} done", advice, kind="ok")
            if job["kind"] == "forget":
                self.selected = None
        else:
            message, advice, lines = job["failure"] or (f"{job['kind']} {event.state}", "", ())
            errors = [line for line in lines if line.startswith("error")]  # the CLI's own one-line error
            self.banner.show(f"{job['name']}: {job['kind']} did not finish: {errors[-1] if errors else message}",
                             advice or "press the button again; it continues where it stopped")
        self.refresh()

    # -- the balancing chart ----------------------------------------------------------------------------------------
    def show_shares(self) -> None:
        shares = self.run(self.actions.balance_shares) or []
        if not shares:
            self.chart_note.configure(text="No dataset yet: prepare one on the Dataset page.")
            self.chart_note.grid()
            return
        self.chart_note.grid_remove()
        self.grid_rowconfigure(3, weight=1)  # the chart shares the height with the list (and shrinks first)
        if self.chart is None:
            from gui.widgets.chart import Chart  # matplotlib loads with the first chart
            self.chart = Chart(self.chart_card, ylabel="share", width=8.5, height=CHART_HEIGHT)
            self.chart.grid(row=2, column=0, columnspan=2, sticky="nsew", padx=8, pady=(0, 8))
        self.chart.clear()
        positions = range(len(shares))
        axes = self.chart.axes
        axes.bar([x - 0.2 for x in positions], [s["before"] for s in shares], width=0.4, label="before")
        axes.bar([x + 0.2 for x in positions], [s["after"] for s in shares], width=0.4, label="after")
        axes.set_xticks(list(positions), [s["name"][:14] for s in shares], fontsize=8)
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, never on them
        self.chart.canvas.draw_idle()
        self.shares = shares
