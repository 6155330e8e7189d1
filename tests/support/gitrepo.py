"""A real git repository in a test's folder, for the spec review's diff selection.

``Repo(path)`` makes a repository on branch ``main`` with a fixed identity (the machine's own
git configuration is never read), writes files and commits them; ``Repo.clone`` makes a working
copy of it whose ``origin/HEAD`` points at ``main``, as a developer's clone has.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Spec Author",
    "GIT_AUTHOR_EMAIL": "author@converge.test",
    "GIT_COMMITTER_NAME": "Spec Author",
    "GIT_COMMITTER_EMAIL": "author@converge.test",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


class Repo:
    def __init__(self, path: Path, *, init: bool = True) -> None:
        self.path = path
        if init:
            path.mkdir(parents=True, exist_ok=True)
            git(path, "init", "-q", "-b", "main")

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def commit(self, files: dict[str, str] | None = None, message: str = "change") -> str:
        self.write(files or {})
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def branch(self, name: str) -> None:
        git(self.path, "checkout", "-q", "-b", name)

    def checkout(self, name: str) -> None:
        git(self.path, "checkout", "-q", name)

    def clone(self, dest: Path) -> Repo:
        git(self.path.parent, "clone", "-q", str(self.path), str(dest))
        return Repo(dest, init=False)
