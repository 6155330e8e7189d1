"""User variables: three sources in order, typed vars files, secrets, and named problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from converge.errors import ConfigError
from converge.variables import collect, read_vars_file


def test_the_environment_then_the_vars_file_then_var_win_in_that_order(tmp_path: Path) -> None:
    file = tmp_path / "vars.yaml"
    file.write_text("region: file\nlimit: 50\n")
    env = {"CONVERGE_VAR_region": "env", "CONVERGE_VAR_only_env": "e-123456", "HOME": "/x"}
    user = collect(["region=cli"], file, env)
    assert user.values == {"region": "cli", "only_env": "e-123456", "limit": 50}
    assert user.sources == {"region": "--var", "only_env": "$CONVERGE_VAR_only_env",
                            "limit": f"--vars-file {file}"}


def test_values_from_the_environment_and_a_file_are_secrets_and_var_values_are_not(
    tmp_path: Path,
) -> None:
    file = tmp_path / "vars.json"
    file.write_text('{"key": "file-secret", "nested": {"pins": [123456, "p-abcdef"]}}')
    user = collect(["stage=preview-7"], file, {"CONVERGE_VAR_token": "env-secret"})
    assert set(user.secrets) >= {"env-secret", "file-secret", "123456", "p-abcdef"}
    assert "preview-7" not in user.secrets


def test_a_vars_file_keeps_json_types_and_yaml_1_2_scalars(tmp_path: Path) -> None:
    file = tmp_path / "vars.yaml"
    file.write_text("n: 3\nflag: true\ncountry: NO\nitems: [a, 1]\nnothing: null\n")
    assert read_vars_file(file) == {
        "n": 3, "flag": True, "country": "NO", "items": ["a", 1], "nothing": None
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", ":2: duplicate key 'a'"),
        ("- a\n- b\n", "expected a mapping of variable names to values"),
        ("a: [1\n", ":2: YAML syntax error"),
        ("free_user_token: x\n", "'free_user_token' is a built-in variable"),
        ("bad-name: x\n", "'bad-name' is not a variable name"),
        ("a: !!binary aGk=\n", "YAML tag !!binary is not supported"),
    ],
)
def test_a_bad_vars_file_is_named_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "vars.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_vars_file(file)
    assert message in str(caught.value)
    assert str(file) in str(caught.value)


def test_an_empty_vars_file_gives_no_variables(tmp_path: Path) -> None:
    file = tmp_path / "vars.yaml"
    file.write_text("# nothing yet\n")
    assert read_vars_file(file) == {}
