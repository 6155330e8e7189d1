"""The change under review: ``git diff`` from a base commit to HEAD or to the working tree.

The base is, in order: the configured ``spec_base`` (any commit-ish); in CI the pull request's
base (GitHub's event payload, GitLab's merge request variables); else the default branch
(``origin/HEAD``, else ``main`` or ``master``, the remote's first). The diff always starts at the
merge base of that and HEAD, as a pull request shows it, so commits the base branch gained since
the branch left it never show up as reverted.

The working tree (the default locally) is what a developer or a coding agent has on disk: staged,
unstaged and untracked files git does not ignore. Files under the holdouts folders, and any the
caller excludes, are left out by git pathspecs, so their text is never read.
"""

from __future__ import annotations

import codecs
import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converge.errors import ConfigError, ReviewError

GIT_TIMEOUT = 120.0  # seconds for one git command; a diff of a huge tree still fits
# Settings of the user's git that would change the diff's text (prefixes, colour, external tools).
_GIT_CONFIG = (
    "-c",
    "core.quotePath=false",
    "-c",
    "diff.noprefix=false",
    "-c",
    "diff.mnemonicPrefix=false",
    "-c",
    "diff.relative=false",
    "-c",
    "color.ui=false",
)
_DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "--no-textconv", "--find-renames")


@dataclass(frozen=True)
class FileDiff:
    """One file's part of the unified diff, from its ``diff --git`` line on."""

    path: str  # the new path (the old one for a deleted file)
    text: str
    added: int
    removed: int


@dataclass(frozen=True)
class Base:
    commit: str  # the merge base the diff starts from
    label: str  # how it was chosen, for people: "the merge base with origin/main"


@dataclass(frozen=True)
class Change:
    base: Base
    head: str  # "HEAD" or "working tree"
    head_commit: str
    files: tuple[FileDiff, ...]
    excluded: tuple[str, ...]  # the paths and globs left out

    @property
    def text(self) -> str:
        return "".join(diff.text for diff in self.files)

    @property
    def added(self) -> int:
        return sum(diff.added for diff in self.files)

    @property
    def removed(self) -> int:
        return sum(diff.removed for diff in self.files)


def git(root: Path, *args: str, ok: Sequence[int] = (0,)) -> str:
    """Run git in ``root``; its output as text. A failure is a ReviewError naming the command."""
    try:
        done = subprocess.run(
            ["git", *_GIT_CONFIG, *args],
            cwd=root,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise ReviewError(
            "git is not installed: the spec review needs it to find the change"
        ) from None
    except subprocess.TimeoutExpired:
        raise ReviewError(f"`git {' '.join(args[:2])}` took more than {GIT_TIMEOUT:g}s") from None
    if done.returncode not in ok:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = detail[-1] if detail else f"exit {done.returncode}"
        raise ReviewError(f"`git {' '.join(args[:2])}` failed: {reason}")
    return done.stdout.decode("utf-8", "replace")


def head_commit(root: Path) -> str | None:
    """HEAD's commit, or None outside a git repository or before the first commit."""
    try:
        return git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").strip() or None
    except ReviewError:
        return None


def _commit(root: Path, ref: str) -> str | None:
    try:
        found = git(
            root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
        )
    except ReviewError:
        return None
    return found.strip() or None


def resolve_base(root: Path, configured: str, environ: Mapping[str, str]) -> Base:
    """The commit the change is measured from (see the module docstring for the order)."""
    head = head_commit(root)
    if head is None:
        try:
            git(root, "rev-parse", "--is-inside-work-tree")
        except ReviewError:
            raise ReviewError(
                f"{root} is not in a git repository: the spec review reviews a git change"
            ) from None
        raise ReviewError("the repository has no commit yet: there is no change to review")
    if configured:
        ref, label = configured, f"spec_base {configured}"
        commit = _commit(root, ref)
        if commit is None:
            raise ConfigError(
                f"setup.cfg [converge] spec_base: {configured!r} is not a commit in this repository"
            )
    else:
        ref, label, commit = _ci_base(root, environ)
        if commit is None:
            ref = _default_branch(root, environ)
            label = f"the default branch {ref}"
            commit = _commit(root, ref)
            assert commit is not None  # _default_branch only returns refs that resolve
    try:
        merge_base = git(root, "merge-base", commit, head).strip()
    except ReviewError:
        raise ReviewError(f"{ref} and HEAD have no common ancestor: set spec_base") from None
    if merge_base != commit:
        label = f"the merge base of HEAD and {label}"
    return Base(merge_base, label)


def _ci_base(root: Path, environ: Mapping[str, str]) -> tuple[str, str, str | None]:
    """The pull or merge request's base in CI: (ref, label, commit), commit None when not in one."""
    sha = environ.get("CI_MERGE_REQUEST_DIFF_BASE_SHA", "").strip()
    label = "the merge request's base"
    if not sha:
        pull = _github_event(environ).get("pull_request")
        base = pull.get("base") if isinstance(pull, dict) else None
        sha = str(base.get("sha") or "") if isinstance(base, dict) else ""
        label = "the pull request's base"
    if not sha:
        return "", "", None
    commit = _commit(root, sha)
    if commit is None:
        raise ReviewError(
            f"{label} {sha[:12]} is not in this checkout: fetch the history (actions/checkout "
            "with fetch-depth: 0) or set spec_base"
        )
    return sha[:12], f"{label} {sha[:12]}", commit


def _github_event(environ: Mapping[str, str]) -> dict[str, Any]:
    path = environ.get("GITHUB_EVENT_PATH", "").strip()
    if not path:
        return {}
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return event if isinstance(event, dict) else {}


def _default_branch(root: Path, environ: Mapping[str, str]) -> str:
    names = []
    try:
        origin_head = git(root, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
        names.append(origin_head.strip())
    except ReviewError:
        pass
    repository = _github_event(environ).get("repository", {})
    default = repository.get("default_branch") if isinstance(repository, dict) else None
    for name in ([default] if isinstance(default, str) and default else []) + ["main", "master"]:
        names.extend([f"origin/{name}", name])
    for name in names:
        if name and _commit(root, name) is not None:
            return name
    raise ConfigError(
        "setup.cfg [converge] spec_base: empty, and no default branch to measure the change "
        "from (no origin/HEAD, main or master): set it to the base commit or branch"
    )


def exclusions(root: Path, paths: Sequence[Path], globs: Sequence[str]) -> tuple[str, ...]:
    """The pathspecs leaving out ``paths`` (those inside ``root``) and the ``globs``."""
    specs = []
    for path in paths:
        try:
            relative = path.resolve().relative_to(root.resolve())
        except ValueError:
            continue  # outside the repository: git never shows it anyway
        if relative.parts:
            specs.append(relative.as_posix())
    return (*specs, *globs)


def _pathspecs(excluded: Sequence[str]) -> list[str]:
    # `:(glob)` gives `**` its usual meaning; literal folders get a trailing `/**` via the glob.
    specs = ["."]
    for item in excluded:
        specs.append(f":(exclude,glob){item}")
        if not any(char in item for char in "*?["):
            specs.append(f":(exclude,glob){item}/**")
    return specs


def list_files(root: Path, globs: Sequence[str], excluded: Sequence[str] = ()) -> list[str]:
    """Files matching ``globs`` that git tracks or would add (ignored ones never), sorted."""
    if not globs:
        return []
    specs = [f":(glob){pattern}" for pattern in globs] + _pathspecs(excluded)[1:]
    listed = git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", *specs)
    return sorted({name for name in listed.split("\0") if name and (root / name).is_file()})


def collect(root: Path, base: Base, *, worktree: bool, excluded: Sequence[str] = ()) -> Change:
    """The diff from ``base`` to the working tree (with untracked files) or to HEAD."""
    head = head_commit(root)
    assert head is not None  # resolve_base made sure
    target = [] if worktree else ["HEAD"]
    specs = _pathspecs(excluded)
    text = git(root, "diff", *_DIFF_OPTIONS, base.commit, *target, "--", *specs)
    files = list(split_diff(text))
    if worktree:
        listed = git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", *specs)
        for path in sorted(name for name in listed.split("\0") if name):
            added = git(
                root, "diff", *_DIFF_OPTIONS, "--no-index", "--", "/dev/null", path, ok=(0, 1)
            )
            files.extend(split_diff(added))
        files.sort(key=lambda diff: diff.path)
    return Change(
        base=base,
        head="working tree" if worktree else "HEAD",
        head_commit=head,
        files=tuple(files),
        excluded=tuple(excluded),
    )


def split_diff(text: str) -> list[FileDiff]:
    """A unified git diff cut into its files, each with its path and added/removed counts."""
    sections: list[list[str]] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("diff --git ") or not sections:
            sections.append([])
        sections[-1].append(line)
    return [_file_diff(lines) for lines in sections if lines and lines[0].startswith("diff --git ")]


def _file_diff(lines: list[str]) -> FileDiff:
    new = old = renamed = None
    added = removed = 0
    in_hunks = False
    for line in lines:
        if line.startswith("@@"):
            in_hunks = True
        elif in_hunks:
            if line.startswith("+"):
                added += 1
            elif line.startswith("-"):
                removed += 1
        elif line.startswith("+++ "):
            new = _path_of(line[4:], "b/")
        elif line.startswith("--- "):
            old = _path_of(line[4:], "a/")
        elif line.startswith(("rename to ", "copy to ")):
            renamed = _unquote(line.split(" to ", 1)[1].rstrip("\n"))
    path = new or renamed or old or _header_path(lines[0])
    return FileDiff(path=path, text="".join(lines), added=added, removed=removed)


def _path_of(text: str, prefix: str) -> str | None:
    name = _unquote(text.rstrip("\n").split("\t")[0])
    if name == "/dev/null":
        return None
    return name.removeprefix(prefix)


def _header_path(header: str) -> str:
    # "diff --git a/P b/P" for a file whose only change is its mode or that is binary.
    rest = header.rstrip("\n").removeprefix("diff --git ")
    if rest.endswith('"') and ' "b/' in rest:
        return _unquote(rest[rest.rfind(' "b/') + 1 :]).removeprefix("b/")
    half = (len(rest) - 1) // 2
    return rest[half + 1 :].removeprefix("b/")


def _unquote(name: str) -> str:
    """git's C-style quoting of unusual file names ("a/tab\\there")."""
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        raw = codecs.escape_decode(name[1:-1].encode("utf-8"))[0]
        return bytes(raw).decode("utf-8", "replace")
    return name
