"""The config tree loads strictly: unknown keys and wrong types are errors naming the key and the file."""
import pytest

from core.config.app_config import AppConfig, load_config, save_config
from core.config.strict import ConfigError, apply_overrides
from tests.conftest import run_cli


def test_defaults_when_file_is_missing(tmp_path):
    config = load_config(tmp_path / "config.toml")
    assert config == AppConfig()
    assert config.dataset.max_share == 0.12


def test_values_load_and_round_trip(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[dataset]\nmin_messages = 5\nmax_share = 1\nsplit_ratios = [0.8, 0.1, 0.1]\n", encoding="utf-8")
    config = load_config(path)
    assert config.dataset.min_messages == 5
    assert config.dataset.max_share == 1.0 and isinstance(config.dataset.max_share, float)
    save_config(config, tmp_path / "copy.toml")
    assert load_config(tmp_path / "copy.toml") == config


@pytest.mark.parametrize("text, fragment", [
    ("[dataset]\nmin_mesages = 5\n", "dataset.min_mesages"),
    ("[nope]\nx = 1\n", "'nope'"),
    ("[dataset]\nmin_messages = 'five'\n", "dataset.min_messages"),
    ("[dataset]\nmin_messages = true\n", "dataset.min_messages"),
    ("[dataset]\nsplit_ratios = [0.8, 'x']\n", "dataset.split_ratios[1]"),
    ("dataset = 3\n", "dataset"),
    ("[dataset\n", "not valid TOML"),
])
def test_invalid_config_names_key_and_file(tmp_path, text, fragment):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert fragment in str(error.value) and str(path) in str(error.value)


def test_overrides_are_validated():
    config = apply_overrides(AppConfig(), {"dataset": {"seed": 7}})
    assert config.dataset.seed == 7
    with pytest.raises(ConfigError):
        apply_overrides(AppConfig(), {"dataset": {"sed": 7}})


def test_cli_reports_bad_config_in_one_line(workspace):
    workspace.config_path.write_text("[dataset]\nbogus = 1\n", encoding="utf-8")
    code, out, err = run_cli("stats", workspace=workspace)
    assert code == 1
    assert err.strip().count("\n") == 0 and "bogus" in err


def test_usage_errors_exit_2(workspace):
    code, _, err = run_cli("no-such-command", workspace=workspace)
    assert code == 2 and "invalid choice" in err
