"""The change under review, from real git repositories made here: base, HEAD, working tree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from converge.errors import ConfigError, ReviewError
from converge.spec import change
from tests.support.gitrepo import Repo, git


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """main: app.py and SPEC.md; branch feature: one commit changing app.py."""
    repo = Repo(tmp_path / "project")
    repo.commit({"app.py": "limit = 3\n", "SPEC.md": "# Spec\n", ".gitignore": "ignored/\n"})
    repo.branch("feature")
    repo.commit({"app.py": "limit = 5\n"}, "raise the limit")
    return repo


def paths(found: change.Change) -> list[str]:
    return [diff.path for diff in found.files]


def base_of(repo: Repo, configured: str = "", **environ: str) -> change.Base:
    return change.resolve_base(repo.path, configured, environ)


def test_the_default_base_is_the_merge_base_with_main(repo: Repo) -> None:
    fork = git(repo.path, "rev-parse", "main")
    repo.checkout("main")
    repo.commit({"later.py": "x = 1\n"}, "main moves on")  # not part of the feature's change
    repo.checkout("feature")
    base = base_of(repo)
    assert base.commit == fork
    assert base.label == "the merge base of HEAD and the default branch main"
    found = change.collect(repo.path, base, worktree=False)
    assert paths(found) == ["app.py"], "main's later commit is not shown as reverted"
    (diff,) = found.files
    assert (diff.added, diff.removed) == (1, 1)
    assert "-limit = 3\n+limit = 5\n" in diff.text


def test_a_clone_uses_origin_head(repo: Repo, tmp_path: Path) -> None:
    repo.checkout("main")
    clone = repo.clone(tmp_path / "clone")
    git(clone.path, "branch", "-q", "-m", "main", "work")  # no local main: origin/main it is
    clone.commit({"new.py": "y = 2\n"})
    base = base_of(clone)
    assert base.label == "the default branch origin/main"
    assert base.commit == repo.head()
    assert paths(change.collect(clone.path, base, worktree=False)) == ["new.py"]


def test_head_leaves_out_what_is_not_committed_and_the_working_tree_has_it_all(
    repo: Repo,
) -> None:
    repo.write({"staged.py": "s = 1\n"})
    git(repo.path, "add", "staged.py")
    repo.write({"app.py": "limit = 7\n", "untracked.py": "u = 1\n", "ignored/out.txt": "no\n"})
    base = base_of(repo)
    committed = change.collect(repo.path, base, worktree=False)
    assert committed.head == "HEAD"
    assert paths(committed) == ["app.py"]
    assert "+limit = 5" in committed.files[0].text
    working = change.collect(repo.path, base, worktree=True)
    assert working.head == "working tree"
    assert paths(working) == ["app.py", "staged.py", "untracked.py"], "ignored files never"
    assert "+limit = 7" in working.files[0].text
    untracked = working.files[2]
    assert "new file mode" in untracked.text
    assert (untracked.added, untracked.removed) == (1, 0)


def test_a_configured_base_is_a_commit_branch_or_tag(repo: Repo) -> None:
    first = git(repo.path, "rev-list", "--max-parents=0", "HEAD")
    git(repo.path, "tag", "v1", first)
    repo.commit({"more.py": "m = 1\n"})
    assert base_of(repo, "v1").commit == first
    assert base_of(repo, "HEAD~1").label == "spec_base HEAD~1"
    assert paths(change.collect(repo.path, base_of(repo, "HEAD~1"), worktree=False)) == ["more.py"]
    with pytest.raises(ConfigError, match="spec_base: 'nowhere' is not a commit"):
        base_of(repo, "nowhere")


def test_a_pull_request_base_comes_from_the_github_event(repo: Repo, tmp_path: Path) -> None:
    base_sha = git(repo.path, "rev-parse", "main")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"base": {"sha": base_sha}}}))
    base = base_of(repo, GITHUB_EVENT_PATH=str(event))
    assert base.commit == base_sha
    assert base.label == f"the pull request's base {base_sha[:12]}"
    event.write_text(json.dumps({"pull_request": {"base": {"sha": "ab" * 20}}}))
    with pytest.raises(ReviewError, match="fetch-depth: 0"):
        base_of(repo, GITHUB_EVENT_PATH=str(event))


def test_a_merge_request_base_comes_from_gitlab(repo: Repo) -> None:
    base_sha = git(repo.path, "rev-parse", "main")
    base = base_of(repo, CI_MERGE_REQUEST_DIFF_BASE_SHA=base_sha)
    assert base.commit == base_sha
    assert "merge request" in base.label


def test_a_push_event_names_the_default_branch(repo: Repo, tmp_path: Path) -> None:
    git(repo.path, "branch", "-q", "-m", "main", "trunk")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"default_branch": "trunk"}}))
    assert base_of(repo, GITHUB_EVENT_PATH=str(event)).label.endswith("the default branch trunk")
    with pytest.raises(ConfigError, match="no default branch"):
        base_of(repo)


def test_excluded_folders_and_globs_are_never_read(repo: Repo) -> None:
    repo.write(
        {
            "holdouts-fixture/critical/a.yaml": "name: hidden\n",
            ".holdouts/critical/b.yaml": "name: pulled\n",
            "web/package-lock.json": "{}\n",
            "web/app.ts": "export {}\n",
        }
    )
    excluded = change.exclusions(
        repo.path,
        [repo.path / "holdouts-fixture", repo.path / ".holdouts", Path("/elsewhere")],
        ["**/package-lock.json"],
    )
    assert excluded == ("holdouts-fixture", ".holdouts", "**/package-lock.json")
    found = change.collect(repo.path, base_of(repo), worktree=True, excluded=excluded)
    assert paths(found) == ["app.py", "web/app.ts"]
    assert "hidden" not in found.text and "pulled" not in found.text
    repo.commit()
    committed = change.collect(repo.path, base_of(repo), worktree=False, excluded=excluded)
    assert paths(committed) == ["app.py", "web/app.ts"], "committed holdouts are left out too"


def test_renames_deletions_and_odd_names_are_named_by_their_new_path(repo: Repo) -> None:
    git(repo.path, "mv", "SPEC.md", "docs.md")
    git(repo.path, "rm", "-q", ".gitignore")
    repo.write({"with space.py": "a = 1\n", "tab\there.py": "b = 2\n"})
    found = change.collect(repo.path, base_of(repo), worktree=True)
    assert paths(found) == [".gitignore", "app.py", "docs.md", "tab\there.py", "with space.py"]
    deleted = found.files[0]
    assert (deleted.added, deleted.removed) == (0, 1)


def test_spec_files_are_found_by_glob_among_files_git_knows(repo: Repo) -> None:
    repo.write(
        {
            "docs/spec/api.md": "# API\n",
            "docs/spec/deep/billing.md": "# Billing\n",
            "docs/other.md": "no\n",
            "ignored/spec.md": "never\n",
            "holdouts-fixture/spec.md": "never either\n",
        }
    )
    globs = ["SPEC.md", "docs/spec/**/*.md", "ignored/*.md", "**/spec.md"]
    found = change.list_files(repo.path, globs, ["holdouts-fixture"])
    assert found == ["SPEC.md", "docs/spec/api.md", "docs/spec/deep/billing.md"]
    assert change.list_files(repo.path, ["nothing/*.md"]) == []


def test_outside_a_repository_or_before_a_commit_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReviewError, match="not in a git repository"):
        change.resolve_base(tmp_path, "", {})
    empty = Repo(tmp_path / "empty")
    with pytest.raises(ReviewError, match="no commit yet"):
        change.resolve_base(empty.path, "", {})


def test_split_diff_counts_only_hunk_lines() -> None:
    text = (
        "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n"
        "--- not a header\n+++ nor this\n context\n"
        "diff --git a/y.bin b/y.bin\nBinary files a/y.bin and b/y.bin differ\n"
    )
    first, second = change.split_diff(text)
    assert (first.path, first.added, first.removed) == ("x.py", 1, 1)
    assert (second.path, second.added, second.removed) == ("y.bin", 0, 0)
