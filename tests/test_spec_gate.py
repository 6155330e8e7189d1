"""The spec review gate end to end: a real git project, mock-anthropic on a real uvicorn, the SDK.

mock-anthropic's reply rules play the model: a compliant verdict, a non-compliant one with
findings, an invalid tool input; its faults play an overloaded API (529). Every test checks the
exit code, and the report against schemas/spec-review.schema.json.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from converge import config
from converge.errors import EXIT_ERROR, ConfigError, ConvergeError, ReviewError
from converge.spec import gate, report
from converge_twins.mock_anthropic.app import create_app
from tests.support.asgi import serve_asgi
from tests.support.gitrepo import Repo

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-ant-spec-review-test-key"
REQUIREMENT = "The free tier MUST allow 3 analyses a month."
SECRET = "a8f9Kd02LmQz7Xy1"
HOLDOUT_TEXT = "a holdout nobody may read"
COMPLIANT = {
    "compliant": True,
    "summary": "The change keeps the free tier's limit.",
    "findings": [],
}
MAJOR = {
    "severity": "major",
    "requirement": REQUIREMENT,
    "file": "app.py",
    "line": 1,
    "explanation": "FREE_LIMIT is 5; the spec says 3.",
}
NOT_COMPLIANT = {"compliant": False, "summary": "The limit is wrong.", "findings": [MAJOR]}
INVALID = {"compliant": "yes", "summary": "", "findings": [{"severity": "fatal"}]}


@dataclass
class Twin:
    url: str

    def rules(self, *rules: dict[str, Any]) -> None:
        response = httpx.post(f"{self.url}/_twin/rules", json=list(rules))
        assert response.status_code == 201, response.text

    def fault(self, **fault: Any) -> None:
        assert httpx.post(f"{self.url}/_twin/faults", json=fault).status_code == 201

    def requests(self, path: str = "/v1/messages") -> list[dict[str, Any]]:
        entries = httpx.get(f"{self.url}/_twin/journal").json()["entries"]
        return [entry for entry in entries if entry["path"] == path]

    def everything_sent(self) -> str:
        entries = httpx.get(f"{self.url}/_twin/journal").json()["entries"]
        return json.dumps([entry.get("body") for entry in entries])


@pytest.fixture
def twin() -> Iterator[Twin]:
    with serve_asgi(create_app({"TWIN_SEED": "spec-review"})) as url:
        yield Twin(url)


@dataclass
class Project:
    repo: Repo
    env: dict[str, str]
    settings: dict[str, str]

    @property
    def root(self) -> Path:
        return self.repo.path

    def configure(self, **values: str) -> None:
        """Write setup.cfg's [converge] section with these values over the project's."""
        self.settings.update(values)
        lines = "".join(f"{key} = {value}\n" for key, value in self.settings.items())
        (self.root / "setup.cfg").write_text(f"[converge]\n{lines}")

    def review(self, **options: Any) -> tuple[int, str, str]:
        """Run the gate as ``invoke gates.spec`` does, in this process; (code, stdout, stderr)."""
        settings = config.load(self.root, environ=self.env)
        out, err = io.StringIO(), io.StringIO()
        code = gate.execute(gate.options_for(settings, self.env, **options), out, err)
        return code, out.getvalue(), err.getvalue()

    def failing_review(self, **options: Any) -> tuple[ConvergeError, str, str]:
        settings = config.load(self.root, environ=self.env)
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(ConvergeError) as raised:
            gate.execute(gate.options_for(settings, self.env, **options), out, err)
        return raised.value, out.getvalue(), err.getvalue()

    def report(self) -> dict[str, Any]:
        document = json.loads((self.root / "reports" / report.REPORT_NAME).read_text())
        assert report.schema_problems(document) == []
        return dict(document)

    def markdown(self) -> str:
        return (self.root / "reports" / report.MARKDOWN_NAME).read_text()

    def invoke(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "invoke", "-r", str(self.root), *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
def project(tmp_path: Path, twin: Twin) -> Project:
    """main holds the spec and the holdouts; the branch feature changes app.py (with a secret)."""
    repo = Repo(tmp_path / "project")
    shutil.copy(REPO / "tasks.py", repo.path)
    project = Project(repo, {}, {})
    project.configure(
        holdouts_repo="holdouts-fixture", spec_files="\n  SPEC.md\n  docs/spec/**/*.md"
    )
    repo.commit(
        {
            "SPEC.md": f"# Gravix\n\n{REQUIREMENT}\n",
            "app.py": "FREE_LIMIT = 3\n",
            ".gitignore": "reports/\n.converge/\n.holdouts/\n",
            "holdouts-fixture/critical/quota.yaml": f"name: {HOLDOUT_TEXT}\n",
        },
        "the product",
    )
    repo.branch("feature")
    repo.commit({"app.py": f'FREE_LIMIT = 5\nAPI_KEY = "{SECRET}"\n'}, "raise the limit")
    repo.write({"holdouts-fixture/critical/quota.yaml": f"name: {HOLDOUT_TEXT}, changed\n"})
    env: dict[str, str] = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("INVOKE_", "ANTHROPIC_", "GITHUB_", "CI_MERGE"))
    }
    env.update(
        {
            "ANTHROPIC_API_KEY": KEY,
            "ANTHROPIC_BASE_URL": twin.url,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        }
    )
    project.env = env
    return project


def sent_bodies(twin: Twin) -> list[dict[str, Any]]:
    return [entry["body"] for entry in twin.requests()]


# --- the verdicts -----------------------------------------------------------------------------


def test_a_compliant_verdict_exits_0_with_the_request_and_its_usage_reported(
    project: Project, twin: Twin
) -> None:
    twin.rules({"match": "free tier", "tool_use": COMPLIANT})
    code, out, err = project.review()
    assert code == 0
    assert "COMPLIANT: 0 blocker, 0 major, 0 minor findings (1 chunk;" in out
    assert "spec review: asking claude-sonnet-4-6 for a verdict" in err

    (body,) = sent_bodies(twin)
    assert body["tool_choice"] == {"type": "tool", "name": "record_verdict"}
    assert body["tools"][0]["input_schema"]["required"] == ["compliant", "summary", "findings"]
    assert body["model"] == "claude-sonnet-4-6" and body["max_tokens"] == 8192
    assert "temperature" not in body, "not sent unless configured"
    assert len(twin.requests("/v1/messages/count_tokens")) == 1, "counted before sending"

    document = project.report()
    assert document["exit_code"] == 0 and document["verdict"] == "compliant"
    assert document["summary"] == COMPLIANT["summary"]
    assert document["change"]["files"][0]["path"] == "app.py"
    assert document["spec"]["files"] == [
        {"path": "SPEC.md", "bytes": len(f"# Gravix\n\n{REQUIREMENT}\n")}
    ]
    assert document["request"]["counted_by"] == "count_tokens"
    (request,) = document["requests"]
    assert request["valid"] and request["request_id"].startswith("req_")
    assert document["usage"]["input_tokens"] == request["input_tokens"] > 0
    assert document["usage"]["output_tokens"] > 0
    assert document["chunks"][0]["input_tokens"] > 0
    assert "### Spec review: COMPLIANT" in project.markdown()


def test_holdouts_are_never_sent_and_secrets_are_masked(project: Project, twin: Twin) -> None:
    twin.rules({"match": "free tier", "tool_use": COMPLIANT})
    code, out, err = project.review()
    assert code == 0
    sent = twin.everything_sent()
    assert REQUIREMENT in sent and "FREE_LIMIT = 5" in sent, "the spec and the diff were sent"
    assert HOLDOUT_TEXT not in sent and "quota.yaml" not in sent
    assert SECRET not in sent and "[MASKED assigned-secret]" in sent
    document = project.report()
    assert document["masked"] == {
        "count": 1,
        "by_kind": {"assigned-secret": 1},
        "by_file": {"app.py": 1},
    }
    assert "holdouts-fixture" in document["change"]["excluded"]
    written = json.dumps(document) + project.markdown() + out + err
    assert KEY not in written and SECRET not in written


def test_a_verdict_with_findings_exits_1_and_shows_them_by_severity(
    project: Project, twin: Twin
) -> None:
    minor = {**MAJOR, "severity": "minor", "line": 2, "explanation": "A key is hard-coded."}
    blocker = {**MAJOR, "severity": "blocker", "file": "", "line": None, "explanation": "No test."}
    twin.rules(
        {"match": "free tier", "tool_use": {**NOT_COMPLIANT, "findings": [minor, MAJOR, blocker]}}
    )
    code, out, _err = project.review()
    assert code == 1
    assert "NOT COMPLIANT: 1 blocker, 1 major, 1 minor findings" in out
    rows = [
        line.split()[0]
        for line in out.splitlines()
        if line.split()[:1] in (["blocker"], ["major"], ["minor"])
    ]
    assert rows == ["blocker", "major", "minor"]
    assert "app.py:1" in out and "(missing)" in out
    document = project.report()
    assert document["exit_code"] == 1 and document["verdict"] == "not compliant"
    assert document["counts"] == {"blocker": 1, "major": 1, "minor": 1}
    assert [f["severity"] for f in document["findings"]] == ["blocker", "major", "minor"]
    markdown = project.markdown()
    assert "| **blocker** |" in markdown and "`app.py:1`" in markdown
    assert markdown.index("**blocker**") < markdown.index("**major**") < markdown.index("| minor")


def test_an_invalid_tool_input_is_sent_back_once_then_exits_2(project: Project, twin: Twin) -> None:
    twin.rules({"match": "free tier", "tool_use": INVALID})
    error, out, _err = project.failing_review()
    assert isinstance(error, ReviewError) and error.exit_code == EXIT_ERROR
    assert "the model's verdict was not valid, twice: $.compliant: 'yes' is not of type" in str(
        error
    )
    _first, second = sent_bodies(twin)
    answer = second["messages"][-1]["content"][0]
    assert answer["type"] == "tool_result" and answer["is_error"] is True
    assert "$.findings[0]" in answer["content"]
    document = project.report()
    assert document["exit_code"] == 2 and document["verdict"] == "error"
    assert [r["valid"] for r in document["requests"]] == [False, False]
    assert document["usage"]["requests"] == 2, "what the failed review cost is reported"
    assert "ERROR: the spec review could not judge the change" in out


def test_an_invalid_answer_corrected_on_the_retry_counts(project: Project, twin: Twin) -> None:
    twin.rules(
        {"match": "previous verdict was not valid", "tool_use": NOT_COMPLIANT},
        {"match": "free tier", "tool_use": INVALID},
    )
    code, _out, _err = project.review()
    assert code == 1
    document = project.report()
    assert [(r["attempt"], r["valid"]) for r in document["requests"]] == [(1, False), (2, True)]
    assert "$.compliant" in document["requests"][0]["problem"]


def test_an_overloaded_api_exits_2_after_the_sdks_retries(project: Project, twin: Twin) -> None:
    project.configure(spec_max_retries="1")
    twin.rules({"match": "free tier", "tool_use": COMPLIANT})
    twin.fault(path_regex="^/v1/messages$", status=529, times=5)
    error, _out, _err = project.failing_review()
    assert isinstance(error, ReviewError)
    assert "the model provider answered 529 overloaded_error after 1 retry: Overloaded" in str(
        error
    )
    assert "(request req_" in str(error)
    assert len(twin.requests()) == 2, "the SDK retried once, as configured"
    document = project.report()
    assert document["exit_code"] == 2 and "529" in document["error"]
    assert document["chunks"] and document["requests"] == [], "counted, but no answer came"


def test_a_missing_key_exits_2_and_sends_nothing(project: Project, twin: Twin) -> None:
    del project.env["ANTHROPIC_API_KEY"]
    error, _out, _err = project.failing_review()
    assert isinstance(error, ReviewError)
    assert str(error).startswith("ANTHROPIC_API_KEY is not set")
    assert "--dry-run" in str(error)
    assert twin.everything_sent() == "[]"
    document = project.report()
    assert document["exit_code"] == 2 and document["error"].startswith("ANTHROPIC_API_KEY")
    assert document["change"]["files"], "what would have been reviewed is still reported"


def test_a_key_the_provider_refuses_exits_2_without_showing_it(project: Project) -> None:
    project.env["ANTHROPIC_API_KEY"] = "not-an-anthropic-key"
    error, out, err = project.failing_review()
    assert "the model provider refused ANTHROPIC_API_KEY (401 authentication_error" in str(error)
    assert "not-an-anthropic-key" not in str(error) + out + err + json.dumps(project.report())


# --- chunking ---------------------------------------------------------------------------------


def test_a_diff_larger_than_the_context_is_reviewed_in_file_chunks(
    project: Project, twin: Twin
) -> None:
    # The twin counts a token per four characters, and the verdict tool with the API's tool-use
    # prompt as the real count_tokens does: with the instructions, the tool and the spec, a
    # request of 3,300 tokens less 500 for the answer holds about two of these files.
    project.configure(spec_context_tokens="3300", spec_max_tokens="500")
    files = {
        f"src/module_{n}.py": "".join(f"value_{n}_{i} = {i}\n" for i in range(160))
        for n in range(8)
    }
    project.repo.commit(files, "a big change")
    twin.rules(
        {
            "match": 'part="3 of',
            "tool_use": {**NOT_COMPLIANT, "findings": [{**MAJOR, "file": "src/module_4.py"}]},
        },
        {"match": "free tier", "tool_use": COMPLIANT},
    )
    code, out, err = project.review()
    assert code == 1
    document = project.report()
    chunks = document["chunks"]
    assert len(chunks) > 2
    assert all(chunk["input_tokens"] <= 2800 for chunk in chunks)
    expected = ["app.py", "setup.cfg", *sorted(files)]  # setup.cfg: configured above
    assert [path for chunk in chunks for path in chunk["files"]] == expected
    assert [chunk["compliant"] for chunk in chunks].count(False) == 1
    assert [(f["file"], f["chunk"]) for f in document["findings"]] == [("src/module_4.py", 3)]
    assert document["usage"]["requests"] == len(chunks) == len(twin.requests())
    bodies = sent_bodies(twin)
    assert all(
        body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
        for body in bodies
    )
    assert all(REQUIREMENT in body["messages"][0]["content"][0]["text"] for body in bodies), (
        "the whole spec each time"
    )
    assert f"{len(chunks)} chunks of whole files" in err
    assert f"({len(chunks)} chunks; " in out
    assert f"Part 3 of {len(chunks)}: The limit is wrong." in document["summary"]


# --- inputs, dry run, nothing to review ----------------------------------------------------------


def test_dry_run_prints_what_would_be_sent_and_asks_no_model(project: Project, twin: Twin) -> None:
    code, out, _err = project.review(dry_run=True)
    assert code == 0
    assert "Dry run: nothing is sent" in out
    assert "SPEC.md" in out and "app.py  +2 -1" in out
    assert "Never sent: .holdouts, holdouts-fixture, reports, .converge" in out
    assert "Secret-looking values masked before sending: 1" in out
    assert "chunk 1:" in out and "counted by the provider's count_tokens" in out
    assert twin.requests() == [], "no model was asked"
    assert not (project.root / "reports").exists(), "nothing written"
    del project.env["ANTHROPIC_API_KEY"]
    code, out, _err = project.review(dry_run=True)
    assert code == 0 and "estimated (no ANTHROPIC_API_KEY" in out


def test_no_spec_file_exits_2_naming_the_globs(project: Project, twin: Twin) -> None:
    project.configure(spec_files="docs/nothing/*.md")
    error, _out, _err = project.failing_review()
    assert isinstance(error, ConfigError)
    assert str(error) == (
        "setup.cfg [converge] spec_files: no file matches docs/nothing/*.md: point it at the "
        "specification (globs relative to the project root)"
    )
    assert project.report()["exit_code"] == 2
    assert twin.everything_sent() == "[]"


def test_no_change_exits_0_without_asking(project: Project, twin: Twin) -> None:
    project.repo.checkout("main")
    (project.root / "holdouts-fixture/critical/quota.yaml").write_text("changed again\n")
    code, out, err = project.review()
    assert code == 0
    assert "COMPLIANT: no change to review" in out
    assert "nothing to review" in err
    assert twin.everything_sent() == "[]"
    assert project.report()["change"]["files"] == []


def test_a_missing_sdk_names_the_extra(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)
    error, _out, _err = project.failing_review()
    assert "the spec review needs converge's `review` extra (anthropic is not installed)" in str(
        error
    )
    assert "pip install 'converge[review]'" in str(error)


def test_the_committed_change_and_a_given_base(project: Project, twin: Twin) -> None:
    twin.rules({"match": "free tier", "tool_use": COMPLIANT})
    project.repo.write({"uncommitted.py": "x = 1\n"})
    project.review(worktree=False)
    assert [f["path"] for f in project.report()["change"]["files"]] == ["app.py"]
    assert project.report()["change"]["head"] == "HEAD"
    project.review()
    assert [f["path"] for f in project.report()["change"]["files"]] == ["app.py", "uncommitted.py"]
    project.review(base="HEAD")
    assert [f["path"] for f in project.report()["change"]["files"]] == ["uncommitted.py"]


# --- through invoke -------------------------------------------------------------------------------


def test_invoke_gates_spec_exits_with_the_verdict(project: Project, twin: Twin) -> None:
    twin.rules({"match": "free tier", "tool_use": NOT_COMPLIANT})
    failed = project.invoke("gates.spec")
    assert failed.returncode == 1, failed.stderr
    assert "NOT COMPLIANT: 0 blocker, 1 major, 0 minor findings" in failed.stdout
    twin.fault(path_regex="^/v1/messages$", status=529, times=10)
    project.configure(spec_max_retries="0")
    overloaded = project.invoke("gates.spec", "--head")
    assert overloaded.returncode == 2
    assert (
        "converge: error: asking for the verdict: the model provider answered 529"
        in overloaded.stderr
    )
    assert "Traceback" not in overloaded.stderr
    dry = project.invoke("gates.spec", "--dry-run", "--base", "main")
    assert dry.returncode == 0 and "Dry run" in dry.stdout
