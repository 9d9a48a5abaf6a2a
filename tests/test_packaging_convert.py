"""Export's converter step in a source run: ``convert_to_gguf`` starts llama.cpp's converter as ``--worker convert``
(the path the frozen app takes too) and the GGUF it writes loads in llama.cpp; a converter failure is one line."""
from __future__ import annotations

import pytest

from core.config.resources import ResourceMissing, llama_cpp_dir
from model.export_gguf import convert_to_gguf
from model.export_merge import ExportError
from tests.tiny_hf_model import tiny_hf_model

pytestmark = pytest.mark.slow


@pytest.fixture
def converter():
    try:
        return llama_cpp_dir()
    except ResourceMissing as exc:
        pytest.skip(str(exc))


def test_convert_worker_writes_a_gguf_that_loads(tmp_path, converter):
    model = tiny_hf_model(tmp_path / "tiny")
    lines = []
    gguf = convert_to_gguf(model, tmp_path / "model-f16.gguf", converter, log=lines.append)
    assert gguf.read_bytes()[:4] == b"GGUF" and not (tmp_path / "model-f16.gguf.partial").exists()
    assert any("Model successfully exported" in line for line in lines)
    import llama_cpp
    llm = llama_cpp.Llama(str(gguf), n_ctx=64, verbose=False)
    try:
        assert llm.metadata["general.architecture"] == "llama" and llm.n_vocab() == 49152
    finally:
        llm.close()


def test_a_converter_failure_is_one_line_and_leaves_no_file(tmp_path, converter):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"architectures": ["NoSuchModelForCausalLM"]}')
    with pytest.raises(ExportError, match="llama.cpp's converter failed on") as caught:
        convert_to_gguf(tmp_path / "broken", tmp_path / "out.gguf", converter, log=lambda line: None)
    assert "\n" not in str(caught.value)
    assert not list(tmp_path.glob("out.gguf*"))
