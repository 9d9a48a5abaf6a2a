"""Export's plain parts without model weights: reading a run's base model and adapter, the quantize-log report,
the Ollama Modelfile, and the export/eval commands' failures on runs that cannot be exported."""
from __future__ import annotations

import json

import pytest

from model.export_gguf import parse_quantize_log
from model.export_merge import ExportError, adapter_dir, base_from_config
from model.export_modelfile import is_chatml, modelfile_text
from tests.conftest import run_cli

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
# Lines as llama.cpp's quantizer logs them (SmolLM2-135M to Q4_K_M: 576-wide rows do not fit k-quant blocks).
QUANTIZE_LOG = """\
[   1/ 272]                   output_norm.weight - [   576,      1,      1,      1], type =    f32, size =    0.002 MiB
[   2/ 272]                  token_embd.weight - [   576,  49152,      1,      1], type =    f16, converting to q8_0 ..
[   3/ 272]                blk.0.attn_k.weight - [   576,    192,      1,      1], type =    f16, converting to q5_0 ..
[   4/ 272]              blk.0.ffn_down.weight - [  1536,    576,      1,      1], type =    f16, converting to q6_K ..
[   5/ 272]                blk.0.ffn_up.weight - [   576,   1536,      1,      1], type =    f16, converting to q5_0 ..
llama_model_quantize_impl: model size  =   256.63 MiB (16.00 BPW)
llama_model_quantize_impl: quant size  =    98.87 MiB (6.17 BPW)
llama_model_quantize_impl: WARNING: 180 of 272 tensor(s) required fallback quantization
"""


def test_quantize_log_gives_tensor_types_and_fallbacks():
    report = parse_quantize_log(QUANTIZE_LOG.splitlines(), "q4_k_m", "q4_k_m")
    assert report.tensor_types == {"f32": 1, "q5_0": 2, "q6_K": 1, "q8_0": 1}
    assert (report.fallback_tensors, report.total_tensors) == (180, 272)
    assert "180 of 272" in report.note and "q4_k_m" in report.note
    clean = parse_quantize_log(QUANTIZE_LOG.splitlines()[:2], "q8_0", "q8_0")
    assert clean.fallback_tensors == 0 and clean.note == "" and clean.total_tensors == 2


def test_modelfile_for_chatml_has_template_and_stops_but_no_system():
    text = modelfile_text("model-q4_k_m.gguf", CHATML, "<|im_end|>")
    assert "FROM ./model-q4_k_m.gguf" in text.splitlines()
    assert 'PARAMETER stop "<|im_end|>"' in text
    template = text.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    assert template == ("{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
                        "<|im_start|>assistant\n")
    assert not any(line.startswith("SYSTEM") for line in text.splitlines())


def test_modelfile_for_another_template_leaves_it_to_the_gguf():
    llama3 = "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>{% endfor %}"
    assert not is_chatml(llama3)
    text = modelfile_text("m.gguf", llama3, "<|eot_id|>")
    assert "TEMPLATE" not in text.replace("Ollama uses the chat template", "")
    assert 'PARAMETER stop "<|eot_id|>"' in text


def test_base_model_from_run_config(tmp_path):
    gguf = tmp_path / "base.gguf"
    gguf.write_bytes(b"GGUF")
    base = base_from_config({"base_model": {"source": str(gguf), "kind": "gguf"}})
    assert (base.kind, base.folder, base.gguf_file) == ("gguf", str(tmp_path), "base.gguf")
    folder = base_from_config({"base_model": str(tmp_path)})
    assert (folder.kind, folder.folder, folder.gguf_file) == ("folder", str(tmp_path), None)
    hub = base_from_config({"base_model": {"source": "HuggingFaceTB/SmolLM2-135M-Instruct", "kind": "hub"}})
    assert hub.kind == "hub" and hub.folder == "HuggingFaceTB/SmolLM2-135M-Instruct"
    with pytest.raises(ExportError, match="is gone"):
        base_from_config({"base_model": {"source": str(tmp_path / "missing.gguf"), "kind": "gguf"}})
    with pytest.raises(ExportError, match="no base model"):
        base_from_config({})


def test_adapter_falls_back_to_the_newest_complete_checkpoint(tmp_path):
    with pytest.raises(ExportError, match="no LoRA adapter"):
        adapter_dir(tmp_path)
    for step in (5, 10, 15):
        checkpoint = tmp_path / "checkpoints" / f"checkpoint-{step}"
        checkpoint.mkdir(parents=True)
        (checkpoint / "adapter_model.safetensors").write_bytes(b"x")
        if step != 15:  # checkpoint-15 was cut short: no trainer_state.json
            (checkpoint / "trainer_state.json").write_text("{}")
    folder, note = adapter_dir(tmp_path)
    assert folder.name == "checkpoint-10" and "did not finish" in note
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_model.safetensors").write_bytes(b"x")
    assert adapter_dir(tmp_path) == (tmp_path / "adapter", "final adapter")


def make_run(workspace, name="20260101-000000-train-abcd", **config):
    run_dir = workspace.runs_dir / name
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"run_id": name, **config}), encoding="utf-8")
    return run_dir


def test_export_of_unknown_run_is_one_line(workspace):
    code, out, err = run_cli("export", "nope", "--json", workspace=workspace)
    assert code == 1 and out == ""
    assert err.startswith("error: no run 'nope'") and err.count("\n") == 1


@pytest.mark.slow
def test_export_of_run_without_adapter_fails_cleanly(workspace, tmp_path):
    gguf = tmp_path / "base.gguf"
    gguf.write_bytes(b"GGUF")
    run_dir = make_run(workspace, base_model={"source": str(gguf), "kind": "gguf"})
    code, out, err = run_cli("export", run_dir.name, "--json", workspace=workspace)
    assert code == 1 and out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: no LoRA adapter in") and "train the run first" in last
    assert not (run_dir / "export" / "export.json").exists()
    assert json.loads((run_dir / "export" / "state.json").read_text())["status"] == "failed"


@pytest.mark.slow
def test_eval_of_run_without_dataset_fails_cleanly(workspace):
    run_dir = make_run(workspace, data_dir=str(workspace.root / "gone"))
    code, out, err = run_cli("eval", run_dir.name, "--json", workspace=workspace)
    assert code == 1 and out == ""
    assert "dataset folder" in err.strip().splitlines()[-1] and "is gone" in err


def test_a_second_export_while_one_runs_is_refused(workspace):
    import os
    run_dir = make_run(workspace)
    (run_dir / "export").mkdir()
    (run_dir / "export" / "state.json").write_text(json.dumps({"status": "running", "pid": os.getpid()}))
    code, out, err = run_cli("export", run_dir.name, workspace=workspace)
    assert code == 1 and "already writing" in err and str(os.getpid()) in err


def test_quantize_failure_tries_q8_0_then_reports_one_line(tmp_path):
    from model.export_gguf import quantize
    broken = tmp_path / "model-f16.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)  # a header and nothing else
    with pytest.raises(ExportError, match=r"quantizing model-f16.gguf failed") as caught:
        quantize(broken, tmp_path / "model-q4_k_m.gguf", "q4_k_m", threads=1)
    assert caught.value.advice == "try --quant f16"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model-f16.gguf"]  # no partial file left
    with pytest.raises(ExportError, match="unknown quantization"):
        quantize(broken, tmp_path / "x.gguf", "q3_k_s")
