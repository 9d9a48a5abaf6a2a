"""Where installing meets the user's machine: install.py unpacking llama.cpp's converter on a Python 3.11 older than
3.11.4 (whose tarfile has no extraction filters), and the runtime finding its base Python through the Windows ``py``
launcher (a fake launcher here: the platform is a parameter)."""
from __future__ import annotations

import io
import os
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

import core.runtime.provision as provision
from core.runtime.provision import ProvisionError, find_base_python, load_install_module

VENDOR = "llama_cpp_python-0.3.36/vendor/llama.cpp"
CONVERTER_FILES = {f"{VENDOR}/convert_hf_to_gguf.py": "print('convert')\n",
                   f"{VENDOR}/gguf-py/gguf/__init__.py": "", f"{VENDOR}/conversion/__init__.py": "",
                   f"{VENDOR}/README.md": "not the converter\n"}


def fake_sdist(folder: Path, extra: list[tarfile.TarInfo] = ()) -> Path:
    path = folder / "llama_cpp_python-0.3.36.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, text in CONVERTER_FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
        for info in extra:
            archive.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


@pytest.fixture
def tarfile_before_3_11_4(monkeypatch):
    """tarfile as Python 3.11.0 to 3.11.3 ship it: extractall takes no ``filter``, no data_filter exists."""
    original = tarfile.TarFile.extractall

    def extractall(self, path=".", members=None, *, numeric_owner=False):
        return original(self, path, members, numeric_owner=numeric_owner)

    monkeypatch.setattr(tarfile.TarFile, "extractall", extractall)
    monkeypatch.delattr(tarfile, "data_filter", raising=False)


def install_converter(monkeypatch, tmp_path, sdist: Path):
    """install.py's converter step with the download and the build left out."""
    install = load_install_module()
    monkeypatch.setattr(install, "THIRD_PARTY", tmp_path / "third_party")
    monkeypatch.setattr(install, "download", lambda spec, source=False: sdist)
    monkeypatch.setattr(install, "installed", lambda module: True)
    install.install_llama_cpp(cuda=False)
    return tmp_path / "third_party" / "llama.cpp"


def test_the_converter_unpacks_on_any_python_3_11(monkeypatch, tmp_path, tarfile_before_3_11_4):
    target = install_converter(monkeypatch, tmp_path, fake_sdist(tmp_path))
    assert (target / "convert_hf_to_gguf.py").read_text() == "print('convert')\n"
    assert (target / "gguf-py" / "gguf" / "__init__.py").is_file() and (target / "conversion").is_dir()
    assert not (target / "README.md").exists()


def unsafe_entry(kind: str, inside: Path) -> tarfile.TarInfo:
    """An entry that would land outside the unpacking folder (but inside ``inside``, where the test looks)."""
    if kind == "parent":
        info = tarfile.TarInfo(f"{VENDOR}/gguf-py/../../../../../escaped.py")
    elif kind == "absolute":
        info = tarfile.TarInfo(f"{inside.as_posix()}/vendor/llama.cpp/gguf-py/escaped.py")
    else:
        info = tarfile.TarInfo(f"{VENDOR}/gguf-py/escaped.py")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    info.size = 0 if kind == "link" else 1
    return info


@pytest.mark.parametrize("kind", ["parent", "absolute", "link"])
def test_unsafe_entries_are_refused_without_tar_filters(monkeypatch, tmp_path, tarfile_before_3_11_4, kind):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))  # where install.py unpacks first
    (tmp_path / "temp").mkdir()
    sdist = fake_sdist(tmp_path, [unsafe_entry(kind, tmp_path)])
    with pytest.raises(SystemExit, match="holds an unsafe entry .*escaped.py"):
        install_converter(monkeypatch, tmp_path / "install", sdist)
    assert not list(tmp_path.rglob("escaped.py"))


def fake_launcher(folder: Path, answers: dict[str, str]) -> Path:
    """A ``py`` on PATH that answers ``-3.x -c ...`` with the interpreter for that version (exit 103 when it has
    none, as the real launcher does) and logs its arguments."""
    folder.mkdir()
    script = folder / "py"
    script.write_text(f"#!{sys.executable}\nimport sys\n"
                      f"open({str(folder / 'asked.log')!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
                      f"answers = {answers!r}\n"
                      "if sys.argv[1] not in answers:\n"
                      "    print('No suitable Python runtime found', file=sys.stderr)\n"
                      "    sys.exit(103)\n"
                      "print(answers[sys.argv[1]])\n")
    script.chmod(0o755)
    return folder


@pytest.mark.skipif(os.name == "nt", reason="a POSIX script stands in for Windows' py launcher")
def test_the_py_launcher_is_asked_newest_first_and_its_answer_checked(monkeypatch, tmp_path):
    old = tmp_path / "python3.10"  # the launcher's answer for -3.12 turns out to be a 3.10: not taken
    old.write_text("#!/bin/sh\necho 3 10\n")
    old.chmod(0o755)
    folder = fake_launcher(tmp_path / "bin", {"-3.12": str(old), "-3.11": sys.executable})
    monkeypatch.setenv("PATH", str(folder))  # nothing else: no python3 on PATH
    monkeypatch.setattr(provision, "frozen", lambda: True)  # the executable: no interpreter of its own
    assert find_base_python(windows=True) == Path(sys.executable)
    assert (folder / "asked.log").read_text().splitlines() == [
        f"-{version} -c import sys; print(sys.executable)" for version in ("3.13", "3.12", "3.11")]
    with pytest.raises(ProvisionError, match="no Python 3.11 or newer found on PATH"):
        find_base_python(windows=False)  # elsewhere the launcher is not asked
    assert len((folder / "asked.log").read_text().splitlines()) == 3
