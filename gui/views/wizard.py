"""The first-run wizard (token → server and channels → base model) and "Try the sample server", which imports the
shipped fictional server into a workspace of its own and prepares its dataset, so a newcomer can click through every
page offline. It outlives the workspace switch that the sample server makes (``survives_workspace_switch``).
Step 2 (the bot's live channels, listed by a CLI job) is in wizard_channels.py."""
from __future__ import annotations

import customtkinter as ctk

from gui.views.base import PageView
from gui.views.wizard_channels import ChannelsStep
from gui.widgets.progress import ProgressRow
from gui.widgets.button import Button

STEPS = ("Bot token", "Server and channels", "Base model")
BUNDLED = "bundled SmolLM2-135M (offline, CPU-friendly)"


class WizardView(ChannelsStep, PageView):
    TITLE = "Welcome to Discord Persona Studio"
    survives_workspace_switch = True

    def __init__(self, master, actions, bus) -> None:
        super().__init__(master, actions, bus)
        self.step = 0
        self.sample_jobs: dict[str, str] = {}   # job id -> "import" / "prepare"
        intro = ("Teach a Discord bot to talk like the people of a server. Three short steps, or try the "
                 "fictional sample server first: it needs no token and no network.")
        ctk.CTkLabel(self, text=intro, anchor="w", justify="left", wraplength=820).grid(
            row=2, column=0, sticky="ew", padx=16, pady=(0, 8))
        sample = self.card(3, "Try the sample server")
        self.sample_button = Button(sample, text="Try the sample server", command=self.try_sample)
        self.sample_button.grid(row=1, column=0, sticky="w", padx=12, pady=(2, 6))
        self.sample_progress = ProgressRow(sample)
        self.sample_progress.grid(row=1, column=1, sticky="ew", padx=12)
        self.sample_progress.set_text("imports Moonbase Cafe into its own workspace and prepares a dataset")
        self.step_card = self.card(4, "")
        self.step_title = self.step_card.winfo_children()[0]
        self.body = ctk.CTkFrame(self.step_card, fg_color="transparent")
        self.body.grid(row=1, column=0, columnspan=2, sticky="ew", padx=12)
        nav = ctk.CTkFrame(self.step_card, fg_color="transparent")
        nav.grid(row=2, column=0, columnspan=2, sticky="w", padx=12, pady=(6, 12))
        self.back_button = Button(nav, text="Back", width=80, command=self.back)
        self.back_button.grid(row=0, column=0, padx=(0, 8))
        self.next_button = Button(nav, text="Next", width=120, command=self.next)
        self.next_button.grid(row=0, column=1, padx=(0, 8))
        self.skip_button = Button(nav, text="Skip the wizard", width=120, fg_color="gray40",
                                         command=self.finish)
        self.skip_button.grid(row=0, column=2)
        self.show_step(0)

    # -- the three steps -------------------------------------------------------------------------------------------
    def show_step(self, step: int) -> None:
        self.step = step
        for child in self.body.winfo_children():
            child.destroy()
        self.step_title.configure(text=f"Step {step + 1} of {len(STEPS)}: {STEPS[step]}")
        (self._token_step, self._channels_step, self._model_step)[step]()
        self.back_button.configure(state="normal" if step else "disabled")
        self.next_button.configure(text="Finish" if step == len(STEPS) - 1 else "Next")

    def _token_step(self) -> None:
        has_token = bool(self.run(self.actions.token_status))
        text = ("A token is already stored; paste a new one to replace it, or go on." if has_token else
                "Paste the bot's token (Discord developer portal → your application → Bot → Reset Token). "
                "It goes to the OS keyring and is never shown again.")
        ctk.CTkLabel(self.body, text=text, anchor="w", justify="left", wraplength=760).grid(row=0, column=0,
                                                                                          sticky="w")
        self.token_entry = ctk.CTkEntry(self.body, show="•", width=420, placeholder_text="bot token")
        self.token_entry.grid(row=1, column=0, sticky="w", pady=6)

    def _model_step(self) -> None:
        ctk.CTkLabel(self.body, anchor="w", justify="left", wraplength=760, text=(
            "The base model the personas are trained on. The bundled one trains on a CPU in minutes; a larger "
            "one (a .gguf file, a model folder, or a Hugging Face id such as Qwen/Qwen2.5-3B-Instruct) sounds "
            "more human but needs a GPU.")).grid(row=0, column=0, sticky="w")
        self.model_entry = ctk.CTkEntry(self.body, width=420, placeholder_text=BUNDLED)
        current = self.actions.preferences.base_model
        if current:
            self.model_entry.insert(0, current)
        self.model_entry.grid(row=1, column=0, sticky="w", pady=6)

    def save_step(self) -> bool:
        """Keep what this step says; False (and the banner) when it is not usable."""
        if self.step == 0:
            token = self.token_entry.get()
            self.token_entry.delete(0, "end")
            if token.strip():
                self.run(self.actions.save_token, token)
                return not self.failed
        elif self.step == 1:
            return self.save_channels()
        elif self.step == 2:
            self.run(self.actions.set_base_model, self.model_entry.get())
            return not self.failed
        return True

    def next(self) -> None:
        if not self.save_step():
            return
        if self.step == len(STEPS) - 1:
            self.finish()
        else:
            self.show_step(self.step + 1)

    def back(self) -> None:
        if self.step:
            self.show_step(self.step - 1)

    def finish(self, page: str = "dashboard") -> None:
        self.run(self.actions.save_preferences, wizard_done=True)
        self.open_page(page)

    # -- the sample server -----------------------------------------------------------------------------------------
    def try_sample(self) -> None:
        job_id = self.run(self.actions.try_sample_server)
        if job_id is None:
            return
        self.sample_jobs[job_id] = "import"
        self.sample_button.configure(state="disabled")
        self.sample_progress.set_text("importing the sample server…", 0.0)

    def on_progress_reported(self, event) -> None:
        if event.job_id in self.sample_jobs:
            self.sample_progress.update_from(event)

    def on_job_state_changed(self, event) -> None:
        self.channels_job_ended(event)

    def on_job_finished(self, event) -> None:
        stage = self.sample_jobs.get(event.job_id)
        if stage == "import":
            job_id = self.run(self.actions.prepare_sample)
            if job_id is not None:
                self.sample_jobs[job_id] = "prepare"
                self.sample_progress.set_text("preparing the sample dataset…", 0.5)
        elif stage == "prepare":
            self.sample_progress.set_text("the sample server is ready: every page now shows it", 1.0)
            self.sample_button.configure(state="normal")
            self.finish("playground")

    def on_job_failed(self, event) -> None:
        if self.channels_job_failed(event):
            return
        stage = self.sample_jobs.pop(event.job_id, None)
        if stage is not None:
            self.banner.show(f"The sample server's {stage} failed: {event.message}",
                             event.advice or "see the job's log under the sample workspace's logs/jobs")
            self.sample_button.configure(state="normal")
