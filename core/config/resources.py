"""Where the app finds files it does not create: bundled assets, llama.cpp's converter, the offline base model.

Each has an environment override for unusual installs; frozen builds look next to the executable.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUNDLE_ROOT = Path(getattr(sys, "_MEIPASS", PROJECT_ROOT))  # PyInstaller unpacks data files here
ASSETS_DIR = BUNDLE_ROOT / "assets"
THIRD_PARTY = (Path(sys.executable).parent if getattr(sys, "frozen", False) else PROJECT_ROOT) / "third_party"
DEFAULT_BASE_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ResourceMissing(FileNotFoundError):
    """A needed file is not installed; the message says how to get it."""


def llama_cpp_dir() -> Path:
    """The folder holding llama.cpp's ``convert_hf_to_gguf.py`` and its bundled ``gguf-py``."""
    folder = Path(os.environ.get("DPS_LLAMA_CPP_DIR", THIRD_PARTY / "llama.cpp"))
    if not (folder / "convert_hf_to_gguf.py").exists():
        raise ResourceMissing(f"llama.cpp's converter is not at {folder}; run `python install.py` "
                              f"(or set DPS_LLAMA_CPP_DIR)")
    return folder


def default_base_model() -> Path:
    """The offline default base model (SmolLM2-135M-Instruct GGUF) that install.py fetches."""
    override = os.environ.get("DPS_BASE_MODEL")
    path = Path(override) if override else THIRD_PARTY / "models" / DEFAULT_BASE_MODEL_FILE
    if not path.exists():
        raise ResourceMissing(f"the default base model is not at {path}; run `python install.py` "
                              f"(or pass --base, or set DPS_BASE_MODEL)")
    return path


def asset(*parts: str) -> Path:
    return ASSETS_DIR.joinpath(*parts)
