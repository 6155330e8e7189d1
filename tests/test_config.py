"""Settings from setup.cfg's [converge] section and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from converge import config, tokens
from converge.errors import EXIT_ERROR, ConfigError

REPO = Path(__file__).resolve().parents[1]


def write_cfg(root: Path, body: str) -> Path:
    (root / "setup.cfg").write_text("[metadata]\nname = x\n\n[converge]\n" + body)
    return root


def test_repository_setup_cfg_loads_with_the_documented_defaults() -> None:
    settings = config.load(REPO, environ={})
    assert settings.api_url == "http://127.0.0.1:8000"
    assert settings.scenarios_dir == REPO / ".holdouts"
    assert settings.holdouts_repo == "holdouts-fixture"
    assert settings.thresholds == {"critical": 85, "important": 85, "nice-to-have": 85}
    assert settings.twins_backend == "auto"
    assert settings.gate_frontend == ()
    assert settings.jwt_secret == config.DEFAULT_JWT_SECRET


def test_default_jwt_secret_matches_the_token_module() -> None:
    assert config.DEFAULT_JWT_SECRET == tokens.DEFAULT_JWT_SECRET


def test_every_setup_cfg_key_is_known() -> None:
    assert set(config.read_setup_cfg(REPO / "setup.cfg")) == set(config.DEFAULTS)


def test_missing_file_or_section_gives_defaults(tmp_path: Path) -> None:
    assert config.load(tmp_path, environ={}).report_file == tmp_path / "reports/latest.json"
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = x\n")
    assert config.load(tmp_path, environ={}).workers == config.DEFAULT_WORKERS == 8


def test_bad_threshold_names_the_key_and_value(tmp_path: Path) -> None:
    write_cfg(tmp_path, "threshold_critical = abc\n")
    with pytest.raises(ConfigError) as raised:
        config.load(tmp_path, environ={})
    assert str(raised.value) == (
        "setup.cfg [converge] threshold_critical: expected a number from 0 to 100, got 'abc'"
    )
    assert raised.value.exit_code == EXIT_ERROR


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("threshold_important = 101", "threshold_important: expected a number from 0 to 100"),
        ("timeout = 0", "timeout: expected a number of seconds greater than 0"),
        ("timeout = inf", "timeout: expected a number of seconds greater than 0 and at most"),
        ("timeout = 1e300", "timeout: expected a number of seconds greater than 0 and at most"),
        ("workers = two", "workers: expected a whole number from 1 to 64, got 'two'"),
        ("workers = 100000", "workers: expected a whole number from 1 to 64, got '100000'"),
        ("twins_backend = kubernetes", "twins_backend: expected one of auto, compose, process"),
        ("twins_variability = 1.5", "twins_variability: expected a number from 0 to 1"),
        ("gate = median", "gate: expected one of mean, lower-bound"),
        ("twins_variability = some", "twins_variability: expected a number from 0 to 1"),
        ("api_url = localhost:8000", "api_url: expected an http:// or https:// URL"),
        ("report_file =", "report_file: must not be empty"),
        ("gate_lint = ruff check 'unclosed", "gate_lint: cannot parse the command"),
        ("thresold_critical = 90", "thresold_critical: unknown key"),
        ("spec_files = ../other/SPEC.md", "spec_files: '../other/SPEC.md' is not a glob relative"),
        ("spec_exclude = /abs/*.json", "spec_exclude: '/abs/*.json' is not a glob relative"),
        ("spec_model =", "spec_model: must not be empty"),
        ("spec_max_tokens = 0", "spec_max_tokens: expected a whole number from 1 to 10000000"),
        ("spec_context_tokens = 8000", "spec_context_tokens: expected more tokens than spec_max"),
        ("spec_temperature = 2", "spec_temperature: expected a number from 0 to 1, or empty"),
        ("spec_max_retries = 11", "spec_max_retries: expected a whole number from 0 to 10"),
        ("spec_max_chunks = none", "spec_max_chunks: expected a whole number from 1 to 1000"),
    ],
)
def test_each_wrong_value_names_its_key(tmp_path: Path, line: str, message: str) -> None:
    write_cfg(tmp_path, line + "\n")
    with pytest.raises(ConfigError) as raised:
        config.load(tmp_path, environ={})
    assert str(raised.value).startswith("setup.cfg [converge] " + message)


def test_api_url_from_environment_overrides_the_file(tmp_path: Path) -> None:
    settings = config.load(tmp_path, environ={"API_URL": "https://preview.example.com/"})
    assert settings.api_url == "https://preview.example.com"
    assert settings.api_url_from_env
    with pytest.raises(ConfigError, match=r"^API_URL: expected an http"):
        config.load(tmp_path, environ={"API_URL": "preview.example.com"})


def test_jwt_secret_comes_from_the_named_variable(tmp_path: Path) -> None:
    write_cfg(tmp_path, "jwt_secret_env = MY_SECRET\n")
    settings = config.load(tmp_path, environ={"MY_SECRET": "s" * 40, "CONVERGE_JWT_SECRET": "x"})
    assert settings.jwt_secret == "s" * 40


def test_secrets_stay_out_of_repr_and_invoke_config(tmp_path: Path) -> None:
    environ = {"HOLDOUT_PAT": "ghp_secret_pat_value", "CONVERGE_JWT_SECRET": "jwt-secret-value!"}
    settings = config.load(tmp_path, environ=environ)
    assert settings.holdout_pat == "ghp_secret_pat_value"
    assert settings.jwt_secret == "jwt-secret-value!"
    for text in (repr(settings), str(settings), repr(settings.to_invoke_config())):
        assert "ghp_secret_pat_value" not in text
        assert "jwt-secret-value!" not in text


def test_the_spec_review_settings_and_its_key_from_the_environment(tmp_path: Path) -> None:
    write_cfg(tmp_path, "spec_files =\n  SPEC.md\n  docs/**/*.md\nspec_temperature = 0.2\n")
    environ = {
        "ANTHROPIC_API_KEY": "sk-ant-secret-key",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/",
    }
    settings = config.load(tmp_path, environ=environ)
    assert settings.spec.spec_files == ("SPEC.md", "docs/**/*.md")
    assert settings.spec.temperature == 0.2
    assert settings.spec.api_key == "sk-ant-secret-key"
    assert settings.spec.base_url == "http://127.0.0.1:9"
    assert "sk-ant-secret-key" not in repr(settings) + repr(settings.to_invoke_config())
    assert config.load(tmp_path, environ={}).spec.api_key is None
    with pytest.raises(ConfigError, match=r"^ANTHROPIC_BASE_URL: expected an http"):
        config.load(tmp_path, environ={"ANTHROPIC_BASE_URL": "gateway:443"})


def test_invoke_config_round_trips(tmp_path: Path) -> None:
    write_cfg(tmp_path, "threshold_critical = 90.5\ngate_frontend =\n  npm run lint\n  npm test\n")
    settings = config.load(tmp_path, environ={})
    values = settings.to_invoke_config()
    assert all(isinstance(v, str) for v in values.values()), "so INVOKE_CONVERGE_* can override"
    assert values["gate_frontend"] == "npm run lint\nnpm test"
    assert config.Settings.from_mapping(values, {}, root=tmp_path) == settings


def test_invoke_override_is_blamed_on_invoke_not_setup_cfg(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        config.load(tmp_path, environ={}, overrides={"workers": "many"})
    assert str(raised.value).startswith("invoke configuration converge.workers: expected")


def test_invoke_yaml_lists_and_numbers_are_accepted(tmp_path: Path) -> None:
    settings = config.load(
        tmp_path,
        environ={},
        overrides={"gate_frontend": ["npm ci", "npm run build"], "workers": 2, "timeout": 2.5},
    )
    assert settings.gate_frontend == ("npm ci", "npm run build")
    assert settings.workers == 2
    assert settings.timeout == 2.5


def test_invoke_defaults_never_raise_and_keep_raw_text(tmp_path: Path) -> None:
    write_cfg(tmp_path, "threshold_critical = abc\n")
    values = config.invoke_defaults(tmp_path)
    assert values["threshold_critical"] == "abc", "validated later, inside the task's guard"
    assert set(values) == set(config.DEFAULTS)
    (tmp_path / "setup.cfg").write_text("not an ini file [")
    assert config.invoke_defaults(tmp_path) == config.DEFAULTS


def test_trust_env_is_off_unless_set_and_refuses_anything_but_a_boolean(tmp_path: Path) -> None:
    assert config.load(write_cfg(tmp_path, ""), environ={}).trust_env is False
    assert config.load(write_cfg(tmp_path, "trust_env = yes\n"), environ={}).trust_env is True
    with pytest.raises(ConfigError, match=r"trust_env: expected true or false, got 'maybe'"):
        config.load(write_cfg(tmp_path, "trust_env = maybe\n"), environ={})
