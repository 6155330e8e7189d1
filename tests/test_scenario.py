"""Loading and validating scenario files: the bad-input corpus, the model built, robustness."""

from __future__ import annotations

import itertools
import multiprocessing
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from converge import _schemas
from converge import scenario as scenario_module
from converge.errors import NoScenariosError, ScenarioError
from converge.model import Scenario
from converge.scenario import Tally, check_dir, load_dir, load_file
from converge.template import is_whole_template

BAD_INPUTS = Path(__file__).parent / "bad_inputs"
FIXTURE = Path(__file__).parent.parent / "holdouts-fixture"

# Each file of tests/bad_inputs/ and the one line it must produce, shown from inside that folder.
# The two duplicate-name files are valid alone; the second one is wrong only next to the first.
EXPECTED = """
bad-priority.yaml:2: $.priority: 'urgent' is not one of: critical, important, nice-to-have
critical/auth-and-authorization.yaml:5: $.steps[0]: auth and an Authorization header together: keep one of the two
critical/bad-method.yaml:3: $.steps[0].method: 'post' is not one of: GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (did you mean 'POST'?)
critical/empty-steps.yaml:2: $.steps: must not be empty
critical/missing-path.yaml:3: $.steps[0]: missing required key 'path'
critical/missing-steps.yaml:1: $: missing required key 'steps'
critical/path-without-slash.yaml:3: $.steps[0].path: 'v1/me' must start with "/", or be exactly one template whose value is a path ("{{next}}")
critical/priority-contradicts-folder.yaml:2: $.priority: priority 'important' contradicts the tier folder 'critical/' (remove it, or move the file)
critical/status-empty-list.yaml:5: $.steps[0].expect.status: must not be empty
critical/status-list-bad-item.yaml:5: $.steps[0].expect.status[1]: 99 is below the minimum 100
critical/status-out-of-range.yaml:5: $.steps[0].expect.status: 600 is above the maximum 599
critical/status-wrong-type.yaml:5: $.steps[0].expect.status: expected an integer or a list, got text ('200')
critical/steps-not-a-list.yaml:2: $.steps: expected a list, got text ('GET /health')
critical/template-in-a-query-name.yaml:4: $.steps[0].query: '{{field}}': a template in a name is not filled in (names are sent as written); put the variable in the value
critical/two-bodies.yaml:6: $.steps[0]: 'body' and 'form' together: a step sends one body (body as JSON, form, or body_text)
critical/unknown-key.yaml:8: $.steps[0].expect: 'stauts' is not allowed here (did you mean 'status'?)
empty.yaml:1: $: the file is empty: a scenario needs a name and steps
important/bad-body-schema.yaml:7: $.steps[0].expect.body_schema.properties.count.type: 'int' is not a JSON Schema type (array, boolean, integer, null, number, object, string)
important/bad-field-path.yaml:6: $.steps[0].expect.body_equals: field path 'usage..used': two dots in a row (an empty key) (at character 7)
important/bad-regex.yaml:9: $.steps[0].expect.body_matches.email: invalid regular expression: unterminated character set at position 6
important/expect-empty-list.yaml:5: $.steps[0].expect.body_contains: must not be empty
important/expect-empty.yaml:4: $.steps[0].expect: must not be empty
important/header-not-latin1.yaml:5: $.steps[0].headers.X-Mark: 'ok ✓' cannot be sent in an HTTP header (only Latin-1 text without control characters)
important/header-not-text.yaml:5: $.steps[0].headers.X-Retry-Count: expected text, got a number (3) (put it in quotes)
important/malformed-template.yaml:7: $.steps[0].body.owner.token: '{{ free user token }}' is not a template: write {{ name }} with a variable name
important/parameter-missing.yaml:8: $.steps[0].expect.body_equals['limits.monthly']: variable 'limit' has no value in $.parameters[1]: give every entry a value for it
important/retry-too-long.yaml:5: $.steps[0].retry: may take 1860 s at worst (60 attempts x (30 s timeout + 1 s interval)); at most 10 minutes are allowed
important/same-step-capture.yaml:11: $.steps[0].expect.body_equals.id: variable 'analysis_id' is captured by this step; only later steps can use it
important/timeout-huge.yaml:4: $.steps[0].timeout: 1e+300 is above the maximum 86400
important/timeout-text.yaml:4: $.steps[0].timeout: expected a number, got text ('5s')
important/timeout-zero.yaml:4: $.steps[0].timeout: 0 must be greater than 0
important/unclosed-template.yaml:5: $.steps[0].headers.Authorization: unclosed '{{' in 'Bearer {{free_user_token}': write {{ name }} with a variable name
important/undefined-variable.yaml:5: $.steps[0].headers.Authorization: undefined variable 'free_usr_token': not a built-in, not supplied (--var free_usr_token=VALUE, --vars-file, $CONVERGE_VAR_free_usr_token) and not captured by an earlier step; did you mean 'free_user_token'?
important/variable-before-capture.yaml:4: $.steps[0].path: variable 'analysis_id' is used before it is captured (by $.steps[1])
misc/wrong-folder-no-priority.yaml:2: $: no priority: add 'priority: critical | important | nice-to-have' or put the file in a tier folder
nice-to-have/bad-capture-name.yaml:5: $.steps[0].capture: 'user-id' is not a variable name (letters, digits and _, not starting with a digit)
nice-to-have/bad-capture-source.yaml:5: $.steps[0].capture.user_id: 'body.id' must be "response.<field path>" (for example response.items.0.id) or "header.<Name>" (for example header.Location)
nice-to-have/bad-header-capture.yaml:5: $.steps[0].capture.order_url: 'header.Content Location' must be "response.<field path>" (for example response.items.0.id) or "header.<Name>" (for example header.Location)
nice-to-have/bad-tagged-value.yaml:4: $.steps[0].timeout: 'soon' is not a valid !!float
nice-to-have/capture-bad-path.yaml:5: $.steps[0].capture.first: field path 'items[0.id': '[' is never closed (at character 6)
nice-to-have/capture-builtin.yaml:5: $.steps[0].capture: 'api_url' is a built-in variable; capture the value under another name
nice-to-have/control-character.yaml:4: $: YAML syntax error: character U+0001 is not allowed
nice-to-have/duplicate-key.yaml:7: $.steps[0].expect: duplicate key 'status' (first at line 5); YAML would silently keep only the last one
nice-to-have/duplicate-name-second.yaml:1: $.name: scenario name 'Shared name' is already used by nice-to-have/duplicate-name-first.yaml
nice-to-have/huge-integer.yaml:4: $.steps[0].timeout: 0xffffffffffffffffff...(302 characters) is out of the range of JSON numbers
nice-to-have/name-not-text.yaml:1: $.name: expected text, got a list
nice-to-have/nan-number.yaml:5: $.steps[0].body.value: .nan is not a JSON number
nice-to-have/non-text-key.yaml:6: $.steps[0].body: key '200' is not text; put it in quotes (JSON keys are strings)
nice-to-have/not-a-scenario.yml:1: $: a scenario file must be a mapping with name, priority and steps; this one holds text
nice-to-have/not-utf8.yaml:1: $: not UTF-8 text (byte 0xe9 at offset 19); save the file as UTF-8
nice-to-have/null-document.yaml:1: $: the file holds only null: a scenario needs a name and steps
nice-to-have/recursive-alias.yaml:5: $.steps[0].body.again: recursive alias: a value cannot contain itself
nice-to-have/regex-too-large.yaml:5: $.steps[0].expect.body_matches.evil: invalid regular expression: its counted repeats nest into 1,000,000,000 copies, at most 100,000 (write a range such as {0,1000}, which is not unrolled)
nice-to-have/two-documents.yaml:4: $: YAML syntax error: expected a single document in the stream, but found another document
nice-to-have/unsupported-tag.yaml:5: $.steps[0].body: YAML tag !!binary is not supported: scenario values are plain JSON (text, numbers, true/false, null, lists, mappings)
nice-to-have/yaml-syntax-error.yaml:4: $: YAML syntax error: did not find expected '-' indicator (while parsing a block collection)
no-priority.yaml:2: $: no priority: add 'priority: critical | important | nice-to-have' or put the file in a tier folder
top-level-list.yaml:1: $: a scenario file must be a mapping with name, priority and steps; this one holds a list
""".strip().splitlines()  # noqa: E501

if not yaml.__with_libyaml__:
    # Without libyaml, PyYAML's pure-Python parser words the one syntax error differently.
    EXPECTED = [
        line.replace(
            "did not find expected '-' indicator",
            "expected <block end>, but found '<block mapping start>'",
        )
        for line in EXPECTED
    ]

ALONE = {line.split(":", 1)[0]: line for line in EXPECTED if "duplicate-name" not in line}


def write(directory: Path, relative: str, text: str) -> Path:
    path = directory / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_dir(directory)
    return [str(problem) for problem in caught.value.problems]


# --- the bad-input corpus -------------------------------------------------------------------


@pytest.mark.parametrize("relative", sorted(ALONE))
def test_each_bad_file_yields_exactly_its_line(relative, monkeypatch):
    monkeypatch.chdir(BAD_INPUTS)
    with pytest.raises(ScenarioError) as caught:
        load_file(Path(relative), root=Path())
    assert [str(problem) for problem in caught.value.problems] == [ALONE[relative]]


def test_all_bad_files_are_reported_together_in_file_order(monkeypatch):
    monkeypatch.chdir(BAD_INPUTS)
    assert problems_of(Path()) == EXPECTED


def test_every_corpus_file_has_an_expected_line():
    on_disk = {
        path.relative_to(BAD_INPUTS).as_posix()
        for path in BAD_INPUTS.rglob("*")
        if path.suffix in {".yaml", ".yml"}
        and not path.relative_to(BAD_INPUTS).as_posix().startswith(".")
    }
    expected = {line.split(":", 1)[0] for line in EXPECTED} | {
        "nice-to-have/duplicate-name-first.yaml"
    }
    assert on_disk == expected
    assert len(on_disk) >= 20


def test_error_message_lists_every_problem_on_its_own_line(monkeypatch):
    monkeypatch.chdir(BAD_INPUTS)
    with pytest.raises(ScenarioError) as caught:
        load_dir(Path())
    message = str(caught.value)
    assert message.startswith(f"{len(EXPECTED)} problems in the scenarios:\n")
    assert message.splitlines()[1:] == EXPECTED


def test_files_are_shown_relative_to_the_working_directory(monkeypatch):
    monkeypatch.chdir(BAD_INPUTS.parent.parent)
    problems = problems_of(BAD_INPUTS)
    assert problems[0].startswith("tests/bad_inputs/bad-priority.yaml:2: ")


def test_files_outside_the_working_directory_are_shown_as_given(tmp_path, monkeypatch):
    write(tmp_path / "scenarios", "critical/a.yaml", "name: A\nsteps: []\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert problems_of(tmp_path / "scenarios") == [
        f"{tmp_path}/scenarios/critical/a.yaml:2: $.steps: must not be empty"
    ]


def test_duplicate_names_across_files_are_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "critical/a.yaml", "name: Same\nsteps: [{path: /a}]\n")
    write(tmp_path, "important/b.yaml", "# b\nname: Same\nsteps: [{path: /b}]\n")
    assert problems_of(Path()) == [
        "important/b.yaml:2: $.name: scenario name 'Same' is already used by critical/a.yaml"
    ]


def test_a_file_reports_all_its_problems_sorted_by_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path,
        "critical/many.yaml",
        """\
        name: Many problems
        priority: important
        steps:
          - path: nowhere
            methd: GET
            headers: {Authorization: "Bearer {{nobody}}"}
            expect:
              status: 42
        """,
    )
    assert problems_of(Path()) == [
        "critical/many.yaml:2: $.priority: priority 'important' contradicts the tier folder "
        "'critical/' (remove it, or move the file)",
        "critical/many.yaml:4: $.steps[0].path: 'nowhere' must start with \"/\", or be exactly "
        'one template whose value is a path ("{{next}}")',
        "critical/many.yaml:5: $.steps[0]: 'methd' is not allowed here (did you mean 'method'?)",
        "critical/many.yaml:6: $.steps[0].headers.Authorization: undefined variable 'nobody': "
        "not a built-in, not supplied (--var nobody=VALUE, --vars-file, $CONVERGE_VAR_nobody) "
        "and not captured by an earlier step",
        "critical/many.yaml:8: $.steps[0].expect.status: 42 is below the minimum 100",
    ]


def test_unknown_key_without_a_close_match_lists_the_allowed_keys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "critical/a.yaml", "name: A\nsteps: [{path: /a}]\nowner: me\n")
    assert problems_of(Path()) == [
        "critical/a.yaml:3: $: 'owner' is not allowed here "
        "(expected one of: name, priority, parameters, steps)"
    ]


def test_duplicate_keys_do_not_hide_the_other_problems(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "critical/a.yaml", "name: A\nname: B\nsteps: []\n")
    assert problems_of(Path()) == [
        "critical/a.yaml:2: $: duplicate key 'name' (first at line 1); "
        "YAML would silently keep only the last one",
        "critical/a.yaml:3: $.steps: must not be empty",
    ]


def test_keys_that_are_not_identifiers_are_quoted_in_the_pointer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path,
        "critical/a.yaml",
        """\
        name: A
        steps:
          - path: /a
            expect:
              body_matches:
                items.0.name: "(unclosed"
        """,
    )
    assert problems_of(Path()) == [
        "critical/a.yaml:6: $.steps[0].expect.body_matches['items.0.name']: "
        "invalid regular expression: missing ) at position 9"
    ]


def test_missing_directory_is_a_no_scenarios_error(tmp_path):
    with pytest.raises(NoScenariosError, match="does not exist"):
        load_dir(tmp_path / "absent")


def test_directory_without_scenario_files_is_a_no_scenarios_error(tmp_path):
    write(tmp_path, "README.md", "# not a scenario\n")
    write(tmp_path, ".github/workflows/ci.yml", "on: push\n")
    with pytest.raises(NoScenariosError, match=r"no scenario files \(\*\.yaml, \*\.yml\) in"):
        load_dir(tmp_path)


def test_a_file_given_as_directory_is_a_no_scenarios_error(tmp_path):
    file = write(tmp_path, "critical/a.yaml", "name: A\nsteps: [{path: /a}]\n")
    with pytest.raises(NoScenariosError, match="is not a directory"):
        load_dir(file)


def test_hidden_folders_are_skipped(tmp_path):
    write(tmp_path, "critical/a.yaml", "name: A\nsteps: [{path: /a}]\n")
    write(tmp_path, ".github/workflows/ci.yml", "on: push\njobs: {}\n")
    write(tmp_path, "critical/.draft.yaml", "not: a scenario\n")
    assert [s.file for s in load_dir(tmp_path)] == ["critical/a.yaml"]



def test_links_out_of_the_directory_are_problems_and_never_read(tmp_path, monkeypatch):
    # A holdouts repository is input from elsewhere: its links must not quote ~/.env into a log.
    outside = tmp_path / "outside"
    write(outside, ".env", "name: x\npriority: sk-live-do-not-print\nsteps: [{path: /a}]\n")
    write(outside, "more/b.yaml", "name: B\npriority: critical\nsteps: [{path: /b}]\n")
    root = tmp_path / "holdouts"
    write(root, "critical/a.yaml", "name: A\nsteps: [{path: /a}]\n")
    write(root, "important/c.yaml", "name: C\nsteps: [{path: /c}]\n")
    (root / "critical" / "env.yaml").symlink_to(outside / ".env")
    (root / "critical" / "c.yaml").symlink_to(root / "important" / "c.yaml")  # inside: read
    (root / "nice-to-have").symlink_to(outside / "more", target_is_directory=True)
    monkeypatch.chdir(root)
    problems = problems_of(Path())
    assert problems == [
        "critical/env.yaml: $: a symbolic link to a file outside the scenarios directory: not read",
        # the link inside the directory is read: its scenario is the same one a second time
        "important/c.yaml:1: $.name: scenario name 'C' is already used by critical/c.yaml",
        "nice-to-have: $: a symbolic link to a folder: converge does not follow it "
        "(copy the scenarios in)",
    ]
    assert "sk-live" not in "\n".join(problems)

def test_unreadable_file_is_a_problem_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "critical/a.yaml", "name: A\nsteps: [{path: /a}]\n")
    (tmp_path / "critical" / "b.yaml").symlink_to(tmp_path / "nowhere.yaml")
    assert problems_of(Path()) == [
        "critical/b.yaml: $: cannot read the file: No such file or directory"
    ]


# --- what a valid file becomes --------------------------------------------------------------

FULL = """\
name: Full scenario
priority: critical
steps:
  - name: Create
    method: POST
    path: /v1/items
    headers:
      Authorization: "Bearer {{free_user_token}}"
      X-Count: "{{count_source}}"
    body:
      n: 3
      owner: "{{api_url}}"
    timeout: 2.5
    expect:
      status: [200, 201]
      body_contains: ["id", "{{api_url}}"]
      body_matches:
        id: "^[0-9a-f]+$"
      body_equals:
        items[0].id: 7
        count: "{{api_url}}"
    capture:
      item_id: response.id
      first: response.items.0.id
  - path: /v1/items/{{item_id}}
  - path: /v1/items
    expect:
      body_contains: ["x"]
  - path: /v1/other
    capture:
      other: response[0].id
"""


def load_one(tmp_path: Path, text: str, relative: str = "critical/s.yaml") -> Scenario:
    write(tmp_path, relative, text)
    (scenario,) = load_dir(tmp_path)
    return scenario


def test_valid_file_builds_steps_and_checks_in_order(tmp_path):
    text = FULL.replace("{{count_source}}", "{{api_url}}")
    scenario = load_one(tmp_path, text)
    assert (scenario.name, scenario.priority, scenario.file) == (
        "Full scenario",
        "critical",
        "critical/s.yaml",
    )
    first = scenario.steps[0]
    assert (first.index, first.name, first.method, first.timeout, first.line) == (
        0,
        "Create",
        "POST",
        2.5,
        4,
    )
    assert [(c.kind, c.target, c.line) for c in first.checks] == [
        ("status", "status", 15),
        ("body_contains", "id", 16),
        ("body_contains", "{{api_url}}", 16),
        ("body_matches", "id", 18),
        ("body_equals", "items[0].id", 20),
        ("body_equals", "count", 21),
        ("capture", "item_id", 23),
        ("capture", "first", 24),
    ]
    assert first.checks[0].statuses == (200, 201)
    assert first.checks[4].path is not None and first.checks[4].path.segments == (
        "items",
        "0",
        "id",
    )
    assert first.checks[7].path is not None and first.checks[7].path.segments == (
        "items",
        "0",
        "id",
    )
    assert first.variables == {"free_user_token", "api_url"}
    assert scenario.checks_total == 8 + 1 + 1 + 1


def test_step_without_expect_or_capture_has_the_implicit_2xx_check(tmp_path):
    step = load_one(tmp_path, FULL.replace("{{count_source}}", "x")).steps[1]
    assert [(c.kind, c.target, c.statuses, c.line) for c in step.checks] == [
        ("status", "status", (), 25)
    ]
    assert step.name == "GET /v1/items/{{item_id}}"
    assert step.variables == {"item_id"}


def test_step_with_expect_but_no_status_has_no_status_check(tmp_path):
    step = load_one(tmp_path, FULL.replace("{{count_source}}", "x")).steps[2]
    assert [c.kind for c in step.checks] == ["body_contains"]


def test_step_with_only_a_capture_has_no_status_check(tmp_path):
    step = load_one(tmp_path, FULL.replace("{{count_source}}", "x")).steps[3]
    assert [(c.kind, c.target) for c in step.checks] == [("capture", "other")]
    assert step.checks[0].path is not None and step.checks[0].path.segments == ("0", "id")


def test_templates_render_typed_in_body_and_as_text_in_headers(tmp_path):
    text = FULL.replace("{{count_source}}", "{{api_url}}").replace(
        "owner: \"{{api_url}}\"", "owner: \"{{api_url}}\"\n      again: \"{{api_url}}\""
    )
    step = load_one(tmp_path, text).steps[0]
    assert step.body is not None
    assert step.body.render({"api_url": 5}) == {"n": 3, "owner": 5, "again": 5}
    assert step.headers.render({"free_user_token": "t", "api_url": 5}) == {
        "Authorization": "Bearer t",
        "X-Count": "5",
    }


def test_priority_comes_from_the_tier_folder_when_left_out(tmp_path):
    scenario = load_one(tmp_path, "name: A\nsteps: [{path: /a}]\n", "nice-to-have/deep/a.yaml")
    assert (scenario.priority, scenario.file) == ("nice-to-have", "nice-to-have/deep/a.yaml")


def test_priority_outside_tier_folders_is_taken_from_the_file(tmp_path):
    scenario = load_one(tmp_path, "name: A\npriority: important\nsteps: [{path: /a}]\n", "a.yaml")
    assert scenario.priority == "important"


def test_a_directory_named_after_a_tier_names_the_tier(tmp_path):
    write(tmp_path, "important/a.yaml", "name: A\nsteps: [{path: /a}]\n")
    (scenario,) = load_dir(tmp_path / "important")
    assert (scenario.priority, scenario.file) == ("important", "a.yaml")


def test_files_load_sorted_by_path_and_yml_counts(tmp_path):
    write(tmp_path, "nice-to-have/z.yml", "name: Z\nsteps: [{path: /z}]\n")
    write(tmp_path, "critical/b.yaml", "name: B\nsteps: [{path: /b}]\n")
    write(tmp_path, "critical/a.yaml", "name: A\nsteps: [{path: /a}]\n")
    assert [s.file for s in load_dir(tmp_path)] == [
        "critical/a.yaml",
        "critical/b.yaml",
        "nice-to-have/z.yml",
    ]


def test_body_null_sends_no_body_and_method_defaults_to_get(tmp_path):
    (step,) = load_one(tmp_path, "name: A\nsteps: [{path: /a, body: null}]\n").steps
    assert (step.method, step.body, step.timeout) == ("GET", None, None)


def test_scalars_follow_yaml_1_2(tmp_path):
    text = """\
    name: Scalars
    steps:
      - method: POST
        path: /a
        body: {country: NO, answer: yes, on: off, date: 2024-01-02, octal: 010, time: 1:30,
               flag: true, nothing: null, hex: 0x1F, ratio: 0.5, big: 1e3, minus: -.5,
               grouped: 1_000, clock: 1:30.5}
    """
    (step,) = load_one(tmp_path, textwrap.dedent(text)).steps
    assert step.body is not None
    assert step.body.render({}) == {
        "country": "NO",
        "answer": "yes",
        "on": "off",
        "date": "2024-01-02",
        "octal": 10,
        "time": "1:30",
        "flag": True,
        "nothing": None,
        "hex": 31,
        "ratio": 0.5,
        "big": 1000.0,
        "minus": -0.5,
        "grouped": "1_000",
        "clock": "1:30.5",
    }


def test_anchors_and_merge_keys_work(tmp_path):
    text = """\
    name: Anchors
    steps:
      - &read
        path: /a
        headers: &auth {Authorization: "Bearer {{pro_user_token}}"}
      - <<: *read
        path: /b
        headers: *auth
    """
    steps = load_one(tmp_path, textwrap.dedent(text)).steps
    assert [s.path.source for s in steps] == ["/a", "/b"]
    assert steps[1].variables == {"pro_user_token"}


def test_capture_is_available_to_every_later_step(tmp_path):
    text = """\
    name: Chain
    steps:
      - path: /a
        capture: {token: response.token}
      - path: /b
      - path: /c/{{token}}
        expect: {body_equals: {token: "{{token}}"}}
    """
    steps = load_one(tmp_path, textwrap.dedent(text)).steps
    assert steps[2].variables == {"token"}


def test_hostile_alias_expansion_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = ["name: Bomb", "steps: [{path: /a}]", "x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    write(tmp_path, "critical/bomb.yaml", "\n".join(lines) + "\n")
    assert problems_of(Path()) == [
        "critical/bomb.yaml:1: $: too large: aliases expand to more than 100000 values"
    ]



def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = "name: Big\nsteps:\n  - path: /a\n    body:\n"
    text += "".join(f"      k{i}: {'v' * 40}\n" for i in range(25_000))  # about 1.3 MB
    write(tmp_path, "critical/big.yaml", text)
    parsed: list[object] = []
    monkeypatch.setattr(scenario_module._FileChecker, "parse", lambda self, t: parsed.append(t))
    assert problems_of(Path()) == [
        "critical/big.yaml: $: too large: a scenario file holds at most 1000000 bytes"
    ]
    assert parsed == []

def test_deep_nesting_is_a_problem_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    body = "[" * 5000 + "]" * 5000
    write(tmp_path, "critical/deep.yaml", f"name: Deep\nsteps: [{{path: /a, body: {body}}}]\n")
    # libyaml names the line where the nesting goes too deep.
    assert problems_of(Path()) == ["critical/deep.yaml:2: $: the YAML is nested too deeply"]



@pytest.mark.parametrize("depth", [150, 450, 700])
def test_nesting_the_parser_accepts_is_still_bounded(tmp_path, monkeypatch, depth):
    # Deep enough to pass libyaml, deep enough for the loader's or the checks' recursion to fail.
    monkeypatch.chdir(tmp_path)
    body = "[" * depth + "1" + "]" * depth
    text = f"name: Deep\nsteps:\n  - path: /a\n    expect:\n      body_equals: {{x: {body}}}\n"
    write(tmp_path, "critical/deep.yaml", text)
    assert problems_of(Path()) == [
        "critical/deep.yaml:5: $.steps[0].expect.body_equals.x[0]: "
        "nested too deeply (more than 100 levels)"
    ]


def test_aliases_cannot_stack_nesting_beyond_the_bound(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    half = "[" * 60 + "1" + "]" * 60
    text = f"name: Deep\nsteps:\n  - path: /a\n    headers: &h {{}}\n    body: &d {half}\n"
    text += f"  - path: /b\n    body: {'[' * 60}*d{']' * 60}\n"
    write(tmp_path, "critical/deep.yaml", text)
    assert problems_of(Path()) == [
        "critical/deep.yaml:7: $.steps[1].body[0][0][0]: nested too deeply (more than 100 levels)"
    ]

def test_the_fixture_holdouts_load():
    scenarios = load_dir(FIXTURE)
    assert scenarios
    assert {s.priority for s in scenarios} == {"critical", "important", "nice-to-have"}


# --- parse once, validate once --------------------------------------------------------------


def test_each_file_is_parsed_once_and_the_schema_compiled_once(tmp_path, monkeypatch):
    for i in range(5):
        write(tmp_path, f"critical/s{i}.yaml", f"name: S{i}\nsteps: [{{path: /a}}]\n")
    parses = []
    original = scenario_module.Loader.get_single_node

    def counting(self):
        parses.append(1)
        return original(self)

    monkeypatch.setattr(scenario_module.Loader, "get_single_node", counting)
    scenario_module._compiled.cache_clear()
    load_dir(tmp_path)
    load_dir(tmp_path)
    assert len(parses) == 10
    assert scenario_module._compiled.cache_info().misses == 1


def test_a_valid_file_is_judged_by_the_compiled_schema_without_jsonschema(tmp_path, monkeypatch):
    write(tmp_path, "critical/ok.yaml", "name: Ok\nsteps: [{path: /a}]\n")
    write(tmp_path, "critical/bad.yaml", "name: Bad\nsteps: [{path: /a, stauts: 200}]\n")
    asked = []
    original = scenario_module._validator

    def counting():
        asked.append(1)
        return original()

    monkeypatch.setattr(scenario_module, "_validator", counting)
    load_file(tmp_path / "critical" / "ok.yaml")
    assert asked == [], "a valid file went through jsonschema's walk"
    with pytest.raises(ScenarioError, match="stauts"):
        load_file(tmp_path / "critical" / "bad.yaml")
    assert asked == [1], "an invalid file's messages are jsonschema's"


def test_schema_is_a_valid_draft_2020_12_schema():
    schema = _schemas.load(_schemas.SCENARIO)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


# --- nothing but ScenarioError escapes ------------------------------------------------------

_FRAGMENTS = [
    "name: x\n", "steps:\n", "- ", "  ", "\n", "path: /a", "path: a", "{{", "}}", "{{ x }}",
    "&a ", "*a", "!!binary ", "!!float ", "!!int ", "!foo ", "[", "]", "{", "}", ":", ", ",
    "'", '"', "---\n", "? ", "\t", "%YAML 1.2\n", "<<: *a\n", "expect:\n", "status: ", "200",
    "capture: {v: response.", "body_matches: {", "(", "é", "\x00", "\ufeff", "priority: ", "~",
    ".nan", "010", "0x", "yes", "2024-01-01", "=", "|\n", ">\n", "#", "...", "-1", "1e5",
]


def _loads_or_reports(content: bytes, relative: str = "critical/x.yaml") -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        try:
            load_dir(root)
        except ScenarioError as error:
            assert error.problems
            for problem in error.problems:
                assert "\n" not in str(problem)
                assert problem.pointer.startswith("$")
                assert problem.line >= 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=40).map("".join))
def test_yaml_ish_text_never_escapes_as_another_exception(text):
    _loads_or_reports(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_escape_as_another_exception(content):
    _loads_or_reports(content)


_KEYS = st.sampled_from(
    ["name", "priority", "steps", "path", "method", "headers", "body", "timeout", "expect",
     "status", "body_contains", "body_matches", "body_equals", "capture", "x", "{{x}}", ""]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        ["/a", "GET", "critical", "response.a", "{{api_url}}", "{{ nope }}", "[", "a..b"]
    ),
    st.text(max_size=8),
)
_STRUCTURES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_STRUCTURES)
def test_random_structures_never_escape_as_another_exception(document):
    _loads_or_reports(yaml.safe_dump(document, allow_unicode=True).encode("utf-8"))


_TEXTS = st.sampled_from(
    ["/a", "/a/{{v}}", "{{v}}", "{{api_url}}", "x{{ v }}y", "{{", "[a-", "^ok$", "a..b", ""]
)
_STEPS = st.fixed_dictionaries(
    {"path": _TEXTS},
    optional={
        "method": st.sampled_from(["GET", "POST", "get", "TRACE"]),
        "headers": st.dictionaries(st.sampled_from(["X-A", "Bad Header"]), _TEXTS | _SCALARS),
        "body": _STRUCTURES,
        "timeout": _SCALARS,
        "expect": st.fixed_dictionaries(
            {},
            optional={
                "status": st.integers(0, 700) | st.lists(st.integers(90, 610), max_size=3),
                "body_contains": st.lists(_TEXTS, max_size=3),
                "body_matches": st.dictionaries(_TEXTS, _TEXTS, max_size=3),
                "body_equals": st.dictionaries(_TEXTS, _STRUCTURES, max_size=3),
            },
        ),
        "capture": st.dictionaries(
            st.sampled_from(["v", "w", "api_url", "1x"]),
            st.sampled_from(
                ["response.a", "response[0].b", "response.", "body.a", "response.a..b"]
            ),
            max_size=2,
        ),
    },
)
_SCENARIOS = st.fixed_dictionaries(
    {"name": st.text(max_size=5), "steps": st.lists(_STEPS, max_size=3)},
    optional={"priority": st.sampled_from(["critical", "important", "urgent"])},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SCENARIOS)
def test_scenario_shaped_documents_load_or_report(document):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "critical" / "s.yaml"
        path.parent.mkdir()
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        try:
            (scenario,) = load_dir(Path(directory))
        except ScenarioError as error:
            assert error.problems
            return
    assert scenario.steps
    for step in scenario.steps:
        # A path starts with "/", or is one template whose value is a path ("{{next}}").
        assert step.path.source.startswith("/") or is_whole_template(step.path.source)
        assert step.checks


def test_copied_corpus_still_reports_the_same_lines(tmp_path, monkeypatch):
    # The expectations depend only on the files, not on where the corpus lives.
    shutil.copytree(BAD_INPUTS, tmp_path / "corpus")
    monkeypatch.chdir(tmp_path / "corpus")
    assert problems_of(Path()) == EXPECTED


# --- what can never be right is refused before any request (issue: a gate you can trust) ---


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ('{path: "/v1/me\\r\\nX-Admin: 1"}',
         "$.steps[0].path: contains a control character (a line break would split the request)"),
        ("{path: //internal-admin.example/v1/me}",
         '$.steps[0].path: must not start with "//" (read as another host\'s URL)'),
        ("{path: /v1/pay, method: POST, body: {amount: 1e999}}",
         "$.steps[0].body.amount: 1e999 is out of the range of JSON numbers"),
        ("{path: /v1/me, headers: {Host: internal-admin.example}}",
         "$.steps[0].headers: header 'Host' is converge's to set (from the API URL and the "
         "body): a scenario cannot send its own"),
        ("{path: /v1/me, headers: {content-length: '0'}}",
         "$.steps[0].headers: header 'content-length' is converge's to set"),
    ],
)
def test_requests_that_can_never_be_right_are_refused(tmp_path, monkeypatch, step, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "critical/a.yaml", f"name: A\nsteps:\n  - {step}\n")
    problems = problems_of(Path())
    assert len(problems) == 1
    assert problems[0].startswith("critical/a.yaml:3: " + message)


def test_a_file_name_with_a_newline_cannot_forge_lines_in_the_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    forged = "a.yaml:1: $: looks fine\ncritical/b.yaml"
    write(tmp_path, f"critical/{forged}.yaml", "name: A\nsteps: []\n")
    with pytest.raises(ScenarioError) as caught:
        load_dir(Path())
    lines = str(caught.value).splitlines()
    assert len(lines) == 2  # the count, then the one problem
    assert lines[1].startswith("critical/a.yaml:1: $: looks fine\\ncritical/b.yaml.yaml:2:")


def test_a_long_file_without_aliases_is_called_too_large_not_an_alias_bomb(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "critical/long.yaml", "name: L\nsteps:\n" + "  - {path: /}\n" * 60_000)
    problems = problems_of(Path())
    assert problems == [
        "critical/long.yaml:1: $: too large: the file holds more than 100000 values"
    ]


def test_an_alias_bomb_is_still_called_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    layers = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
        f"*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
        for i in range(1, 6)
    ]
    write(tmp_path, "critical/bomb.yaml", "\n".join(["name: B", *layers, "steps: [{path: /}]"]))
    assert problems_of(Path()) == [
        "critical/bomb.yaml:1: $: too large: aliases expand to more than 100000 values"
    ]


def test_many_files_are_checked_in_worker_processes_with_the_same_problems_in_order(
    tmp_path, monkeypatch
):
    for i in range(60):
        text = f"name: S{i}\nsteps: [{{path: /a, expect: {{status: 200}}}}]\n"
        if i % 7 == 3:
            text = f"name: S{i}\nsteps: [{{path: /a, stauts: 200}}]\n"  # a schema problem
        if i % 11 == 5:
            text = "name: S1\nsteps: [{path: /a}]\n"  # a name already used
        write(tmp_path, f"{'critical' if i % 2 else 'important'}/s{i:02d}.yaml", text)
    write(tmp_path, "critical/broken.yaml", "name: [unclosed\n")
    pools = []

    class CountedPool(scenario_module.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(scenario_module, "ProcessPoolExecutor", CountedPool)
    monkeypatch.setattr(scenario_module, "_processes_for", lambda files: 2)
    with pytest.raises(ScenarioError) as parallel:
        check_dir(tmp_path)
    assert pools == [1]
    monkeypatch.setattr(scenario_module, "_processes_for", lambda files: 1)
    with pytest.raises(ScenarioError) as serial:
        check_dir(tmp_path)
    with pytest.raises(ScenarioError) as loaded:
        load_dir(tmp_path)
    assert pools == [1], "few processes: no pool"
    assert parallel.value.problems == serial.value.problems == loaded.value.problems
    assert len(parallel.value.problems) > 10
    assert not multiprocessing.active_children(), "the worker processes are gone"


def test_checking_many_valid_files_tallies_what_loading_them_gives(tmp_path, monkeypatch):
    for i in range(30):
        checks = "{status: 200, body_contains: [ok]}" if i % 3 else "{status: 200}"
        write(tmp_path, f"{'critical' if i % 2 else 'nice-to-have'}/s{i:02d}.yaml",
              f"name: S{i}\nsteps: [{{path: /a, expect: {checks}}}]\n")
    monkeypatch.setattr(scenario_module, "_processes_for", lambda files: 2)
    tallies = check_dir(tmp_path)
    assert tallies == [Tally(s.priority, s.checks_total) for s in load_dir(tmp_path)]
    assert not multiprocessing.active_children()


def test_files_are_checked_in_processes_from_a_few_hundred_on(monkeypatch):
    monkeypatch.setattr(scenario_module.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3},
                        raising=False)
    assert scenario_module._processes_for(10) == 1
    assert scenario_module._processes_for(scenario_module.PARALLEL_FILES) == 4
    monkeypatch.setattr(scenario_module.os, "sched_getaffinity", lambda _pid: set(range(64)),
                        raising=False)
    assert scenario_module._processes_for(10_000) == scenario_module.MAX_PROCESSES


# Scalars of every plain tag, as written (implicitly typed) and explicitly tagged.
PLAIN_SCALARS = [
    "text", "'quoted'", '"double"', "10", "-7", "+3", "0o17", "0x1F", "-0x1F", "010", "1_000",
    "1.5", "-0.0", ".5", "5.", "1e3", "-2.5E-3", "true", "False", "TRUE", "yes", "no", "on",
    "null", "~", "Null", "2024-01-01", "1:30", "!!str 10", "!!int '12'", "!!float '3'",
    "!!bool 'true'", "!!null ''", "!!float 1e3",
]


@pytest.mark.parametrize("scalar", PLAIN_SCALARS)
def test_a_plain_document_is_built_as_pyyaml_builds_it(scalar):
    text = f"a: {scalar}\nlist: [{scalar}, {{k: {scalar}}}]\nnested: {{x: {{y: [{scalar}]}}}}\n"
    assert_built_alike(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=15,
))
def test_any_json_document_is_built_as_pyyaml_builds_it(value):
    assert_built_alike(yaml.safe_dump({"value": value}))


def assert_built_alike(text: str) -> None:
    from converge._yaml import Loader, NodeInspector, construct_plain

    loader = Loader(text)
    try:
        node = loader.get_single_node()
        inspector = NodeInspector(lambda *_problem: None)
        if not inspector.inspect(node):
            return  # never constructed: the file has a problem
        assert not inspector.aliased and not inspector.merged
        fast = construct_plain(node)
        slow = loader.construct_document(node)
    finally:
        loader.dispose()
    assert repr(fast) == repr(slow)  # repr: 1 and 1.0, -0.0 and 0.0, True and 1 differ


def test_aliases_and_merge_keys_are_left_to_pyyaml(tmp_path):
    write(tmp_path, "critical/merge.yaml", """\
        name: Merge
        steps:
          - &first {name: one, method: GET, path: /a}
          - <<: *first
            name: two
          - *first
        """)
    (scenario,) = load_dir(tmp_path)
    assert [(step.name, step.method, step.path.source) for step in scenario.steps] == [
        ("one", "GET", "/a"), ("two", "GET", "/a"), ("one", "GET", "/a")
    ]


def test_a_fifo_or_a_device_among_the_files_is_a_problem_not_a_hang(tmp_path):
    # Opening a FIFO blocks until a writer comes: validate and run once hung on one for ever.
    import os
    import subprocess
    import sys

    write(tmp_path, "critical/ok.yaml", "name: OK\nsteps: [{path: /}]\n")
    os.mkfifo(tmp_path / "critical" / "pipe.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "converge", "validate", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    assert "critical/pipe.yaml: $: not a regular file (a FIFO, a device or a socket)" in done.stderr


def test_too_many_entries_say_how_many_and_the_limit_not_a_cut_off_value(tmp_path, monkeypatch):
    import json

    monkeypatch.chdir(tmp_path)
    params = json.dumps([{"i": n} for n in range(1001)])
    write(tmp_path, "critical/s.yaml", f"name: P\nparameters: {params}\nsteps: [{{path: /}}]\n")
    assert problems_of(tmp_path) == [
        "critical/s.yaml:2: $.parameters: 1001 entries, at most 1000 allowed"
    ]


EVERY_FEATURE = """\
name: "Every feature {i}"
parameters:
  - {token: "{{pro_user_token}}", limit: 50}
  - {token: "{{quality_user_token}}", limit: 200}
steps:
  - name: search
    path: "/v1/search/{{limit}}"
    query: {q: "salt & {{limit}}", tag: [a, b], page: null}
    auth: {basic: {username: ada, password: "pw{{limit}}"}}
    timeout: 5
    retry: {attempts: 3, interval_ms: 10}
    expect:
      status: [200, 201]
      body_contains: ["ok"]
      body_matches: {id: "^[0-9]+$"}
      body_equals: {limits.monthly: "{{limit}}"}
      header_equals: {X-Count: "{{limit}}"}
      header_matches: {Location: "^/v1/[a-z]+$"}
      body_schema:
        type: object
        required: [id]
        patternProperties: {"^x-": {type: string, pattern: "^v[0-9]+$"}}
        properties: {items: {type: array, maxItems: 10}}
      max_duration_ms: 800
    capture:
      next: header.Location
      first: response.items[0].id
  - name: follow
    method: POST
    path: "{{next}}"
    headers: {Authorization: "Bearer {{token}}"}
    form: {name: Ada, topping: [bacon, "{{first}}"]}
  - method: PUT
    path: "/v1/notes/{{first}}"
    body_text: "note {{first}}"
  - method: POST
    path: /v1/json
    body: {n: "{{limit}}", deep: [{k: "{{first}}"}]}
"""


def test_streamed_scenarios_are_the_loaded_ones_in_order_and_the_readers_are_gone(
    tmp_path, monkeypatch
):
    for i in range(40):
        plain = (
            f"name: S{i}\nsteps: [{{path: '/a/{{{{free_user_token}}}}', expect: {{status: 200}}}}]"
        )
        text = EVERY_FEATURE.replace("{i}", str(i)) if i % 4 == 0 else plain
        write(tmp_path, f"{'critical' if i % 2 else 'important'}/s{i:02d}.yaml", text)
    monkeypatch.setattr(scenario_module, "_readers_for", lambda files: 2)
    with scenario_module.streamed(tmp_path) as stream:
        assert stream.reading and stream.expected == 40
        streamed = list(stream)
    assert not multiprocessing.active_children(), "the reading processes are gone"
    loaded = load_dir(tmp_path)
    assert len(streamed) == len(loaded) == 50  # ten files of two parameter entries each
    assert streamed == loaded
    # Each came from another process: compiled there, and again here (the templates and the
    # body schema's validator render and judge the same).
    at = next(n for n, s in enumerate(streamed) if s.name.startswith("Every feature"))
    every = streamed[at]
    variables = {"limit": 50, "first": "a/b", "next": "/v1/x", "token": "t"}
    for step, twin in zip(every.steps, loaded[at].steps, strict=True):
        assert step.path.render(variables) == twin.path.render(variables)
        assert step.headers.render(variables) == twin.headers.render(variables)
        if step.body is not None and twin.body is not None:
            assert step.body.render(variables) == twin.body.render(variables)
    schema = next(c for c in every.steps[0].checks if c.kind == "body_schema").schema
    assert schema is not None
    assert schema.is_valid({"id": 1, "x-a": "v2"})
    assert not schema.is_valid({"id": 1, "x-a": "2"})
    assert not schema.is_valid({"id": 1, "items": list(range(11))})


def test_streaming_stops_at_the_first_bad_file_and_raises_what_loading_raises(
    tmp_path, monkeypatch
):
    for i in range(40):
        text = f"name: S{i}\nsteps: [{{path: /a, expect: {{status: 200}}}}]\n"
        if i == 12:
            text = f"name: S{i}\nsteps: [{{path: /a, stauts: 200}}]\n"
        if i == 30:
            text = "name: S1\nsteps: [{path: /a}]\n"  # a name already taken
        write(tmp_path, f"critical/s{i:02d}.yaml", text)
    monkeypatch.setattr(scenario_module, "_readers_for", lambda files: 2)
    came: list[str] = []
    with pytest.raises(ScenarioError) as streamed, scenario_module.streamed(tmp_path) as stream:
        came.extend(s.name for s in stream)
    with pytest.raises(ScenarioError) as loaded:
        load_dir(tmp_path)
    assert streamed.value.problems == loaded.value.problems
    assert len(loaded.value.problems) == 2
    assert came == [f"S{i}" for i in range(12)], "nothing after the first bad file"
    assert not multiprocessing.active_children()


def test_leaving_a_stream_early_ends_its_readers(tmp_path, monkeypatch):
    for i in range(200):
        write(tmp_path, f"critical/s{i:03d}.yaml", f"name: S{i}\nsteps: [{{path: /a}}]\n")
    monkeypatch.setattr(scenario_module, "_readers_for", lambda files: 2)
    with scenario_module.streamed(tmp_path) as stream:
        first = next(iter(stream))
    assert first.name == "S0"
    assert not multiprocessing.active_children()


def test_few_files_or_one_core_are_read_here_first(tmp_path, monkeypatch):
    for i in range(3):
        write(tmp_path, f"critical/s{i}.yaml", f"name: S{i}\nsteps: [{{path: /a}}]\n")
    with scenario_module.streamed(tmp_path) as stream:
        assert not stream.reading and stream.expected == 3
        assert [s.name for s in stream] == ["S0", "S1", "S2"]
    monkeypatch.setattr(scenario_module.os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    assert scenario_module._readers_for(10_000) == 0
    monkeypatch.setattr(scenario_module.os, "sched_getaffinity", lambda _pid: {0, 1},
                        raising=False)
    assert scenario_module._readers_for(scenario_module.STREAM_FILES - 1) == 0
    assert scenario_module._readers_for(scenario_module.STREAM_FILES) == 1
    monkeypatch.setattr(scenario_module.os, "sched_getaffinity", lambda _pid: set(range(64)),
                        raising=False)
    assert scenario_module._readers_for(10_000) == scenario_module.MAX_PROCESSES


@pytest.mark.parametrize("count", [1, 4, 5, 59, 60, 61, 1000])
def test_files_go_to_the_readers_in_chunks_that_grow_and_cover_each_file_once(count):
    files = [Path(f"f{i}") for i in range(count)]
    chunks = list(scenario_module._chunks(files))
    assert [file for chunk in chunks for file in chunk] == files
    sizes = [len(chunk) for chunk in chunks]
    assert sizes[0] == min(count, scenario_module.FIRST_CHUNK)
    assert all(a <= b for a, b in itertools.pairwise(sizes[:-1])), "they grow (the last: the rest)"
    assert max(sizes) <= scenario_module.LAST_CHUNK

