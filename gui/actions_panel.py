"""The shell pages' verbs beyond the bot and the playground: Settings (token, embedder, preferences), the Dashboard's
facts and next step, and the sample server. Mixed into ``gui.actions.Actions``; uses its ``workspace``, ``bus``,
``connect``, ``start_job`` and ``preferences``."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.config.resources import THIRD_PARTY, asset
from gui.errors import ActionError

SAMPLE_FOLDER = "sample"           # the sample server's own workspace, inside the user's
SMALL_MODEL = THIRD_PARTY / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"  # untrained, for clicking through offline


@dataclass(frozen=True)
class NextStep:
    """What the user should do next: the button's text, the page it opens, why."""
    label: str
    page: str
    why: str


class PanelActions:
    # -- the training runtime (the executable's torch & co., see core.runtime) --------------------------------------
    def runtime_status(self) -> str:
        """One line: where training runs, or what is missing (source checkouts train in their own environment)."""
        from core.config.runtime import default_runtime_dir, frozen, installed_runtime
        if not frozen():
            return "source checkout: training, export and evaluation run in this Python environment"
        runtime = installed_runtime()
        if runtime is None:
            return f"not installed: training, export and evaluation need it (it goes to {default_runtime_dir()})"
        cuda = " with CUDA" if runtime.info.get("cuda") else ""
        return f"installed{cuda} at {runtime.folder}"

    def runtime_installable(self) -> bool:
        """Only the executable installs a runtime; a source checkout already has its environment."""
        from core.config.runtime import frozen
        return frozen()

    def install_runtime(self, cuda: bool = False) -> str:
        """Start the runtime install as a job (downloads torch and the training stack); returns the job id."""
        from core.config.runtime import default_runtime_dir, frozen
        from core.runtime.jobs import runtime_install_job
        if not frozen():
            raise ActionError("this is a source checkout: it trains in its own environment",
                              "install.py set it up; `python install.py --cuda` adds the GPU stack")
        return self.start_job(runtime_install_job(self.workspace.logs_dir, default_runtime_dir(), cuda=cuda))

    # -- settings --------------------------------------------------------------------------------------------------
    def token_status(self) -> str:
        """Where the token is ("keyring", "environment") or "" when none is set; never the token itself."""
        from core.config.secrets import token_source
        return token_source() or ""

    def save_token(self, token: str) -> None:
        from core.config.secrets import SecretError, set_token
        try:
            set_token(token)
        except SecretError as exc:
            raise ActionError(f"the token was not saved: {exc}", "paste the token from the Discord developer "
                              "portal's Bot page") from None

    def forget_token(self) -> bool:
        from core.config.secrets import delete_token
        return delete_token()

    def embedder(self) -> str:
        from core.config.app_config import load_config
        return load_config(self.workspace.config_path).memory.embedder

    def set_embedder(self, name_or_path: str) -> None:
        from core.config.app_config import load_config, save_config
        from core.config.strict import ConfigError
        try:
            config = load_config(self.workspace.config_path)
        except ConfigError as exc:
            raise ActionError(f"config.toml is unusable: {exc}", "fix or delete that file") from None
        config.memory.embedder = name_or_path.strip()
        save_config(config, self.workspace.config_path)

    def channel_choices(self) -> list[tuple[int, str, bool]]:
        """(channel id, "server / #channel", allowlisted) of the stored channels (threads left out)."""
        from storage.channels import stored_channels
        with self.connect() as conn:
            return [(channel.id, f"{channel.guild_name or '?'} / #{channel.name}", channel.allowlisted)
                    for channel in stored_channels(conn) if channel.parent_id is None]

    def set_allowlist(self, channel_ids: list[int], allowlisted: bool = True) -> None:
        from storage.channels import set_allowlisted
        with self.connect() as conn, conn:
            set_allowlisted(conn, channel_ids, allowlisted)

    def set_base_model(self, reference: str) -> str:
        """Validate and remember the base model (a GGUF, a model folder or a Hugging Face id)."""
        from core.config.training import PresetError, resolve_base_model
        reference = reference.strip() or str(SMALL_MODEL)
        try:
            resolve_base_model(reference)
        except PresetError as exc:
            raise ActionError(str(exc), "pick the bundled model or give a .gguf file, a folder or owner/name")
        self.save_preferences(base_model=reference)
        return reference

    # -- dashboard -------------------------------------------------------------------------------------------------
    def workspace_facts(self) -> dict:
        """Counts the dashboard shows and the next step decides on (cheap queries only)."""
        with self.connect() as conn:
            messages = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
            allowlisted = conn.execute("SELECT COUNT(*) FROM channels WHERE allowlisted = 1").fetchone()[0]
        datasets = [path for path in self.workspace.datasets_dir.glob("*/train.jsonl")]
        runs = [path for path in self.workspace.runs_dir.glob("*/config.json")]
        return {"messages": messages, "allowlisted": allowlisted, "datasets": len(datasets), "runs": len(runs),
                "models": len(self.exported_models()), "token": self.token_status()}

    def replies_today(self) -> int:
        """Replies the bot sent today (the bot counts them in SQLite, storage.bot_stats)."""
        from storage.bot_stats import replies_on
        with self.connect() as conn:
            return replies_on(conn)

    def next_step(self, facts: dict | None = None) -> NextStep:
        facts = facts if facts is not None else self.workspace_facts()
        if not facts["messages"]:
            return NextStep("Import a server export", "data", "the workspace holds no messages yet")
        if not facts["datasets"]:
            return NextStep("Prepare a dataset", "dataset", f"{facts['messages']:,} messages, no dataset yet")
        if not facts["runs"]:
            return NextStep("Train a model", "training", "a dataset is ready, nothing trained yet")
        if not facts["models"]:
            return NextStep("Export the model", "models", "a run is trained but not exported to GGUF")
        if not facts["token"]:
            return NextStep("Add the bot token", "settings", "the bot needs its Discord token to log in")
        return NextStep("Start the bot", "bot", "everything is ready")

    def disk_used(self) -> int:
        """Bytes under the workspace folder (the monitor thread calls this; no Tk here)."""
        total = 0
        for folder, _dirs, files in os.walk(self.workspace.root):
            for name in files:
                try:
                    total += os.stat(os.path.join(folder, name)).st_size
                except OSError:  # a file that vanished mid-walk (a rotated log)
                    pass
        return total

    def disk_free(self) -> int:
        return shutil.disk_usage(self.workspace.root).free

    # -- the sample server -----------------------------------------------------------------------------------------
    def sample_root(self) -> Path:
        root = self.workspace.root
        return root if root.name == SAMPLE_FOLDER else root / SAMPLE_FOLDER

    def try_sample_server(self) -> str:
        """Switch to the sample server's own workspace and import it there (a job); returns the import's job id."""
        from core.ingest.jobs import import_job
        self.switch_workspace(self.sample_root())
        return self.start_job(import_job(self.workspace, [asset("sample_server", "export")]))

    def prepare_sample(self) -> str:
        from core.dataset.jobs import prepare_job
        return self.start_job(prepare_job(self.workspace))  # the default folder: it becomes the "latest" dataset

    def playground_models(self) -> list[tuple[str, Path]]:
        """(label, GGUF) the playground can load: exported models, then the bundled untrained small model."""
        from core.prompting.compare import model_label
        choices = [(model_label(path), path) for path in self.exported_models()]
        if SMALL_MODEL.is_file():
            choices.append(("untrained SmolLM2-135M (bundled)", SMALL_MODEL))
        return choices
