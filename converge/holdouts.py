"""Pull the holdout scenarios into a local folder (``.holdouts/`` by default).

The source is one of:

- a plain local folder (the default, ``holdouts-fixture``): copied, replacing the destination;
- a git repository: a local path to one (working tree or bare), a ``file://``, ``ssh://`` or
  ``https://`` URL, or an scp-like ``git@host:org/repo.git``. The destination is a git checkout
  updated with ``fetch <url> <ref>`` then ``reset --hard FETCH_HEAD`` and ``clean -ffdx``, never
  with a merge, so a changed ref, a force-pushed remote or files edited in the checkout all end
  in exactly the remote's tree.

Credentials: for an ``https://`` source, a ``HOLDOUT_PAT`` token goes to git as an
``http.<origin>.extraHeader`` through the ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n`` environment
variables. So the token is never on a command line (visible in ``ps``), never in
``.git/config``, and the fetch URL stays credential-free; every git message shown to the user
passes through :func:`scrub` first. git never prompts (``GIT_TERMINAL_PROMPT=0``, SSH in batch
mode) and every git command has a time limit, so CI fails instead of hanging.

When the remote cannot be reached and a previous checkout of the same source exists, that
checkout is used with a warning; without one, :class:`~converge.errors.HoldoutsError` (exit 2).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from converge.errors import HoldoutsError
from converge.redact import MASK, Redactor, git_credential

Say = Callable[[str], None]

GIT_TIMEOUT = 120.0  # seconds for one git command; a holdouts repository is small
SOURCE_FILE = "converge-source"  # inside .git: which source this checkout was made from
COPY_MARKER = ".converge-holdouts"  # inside a copy: converge made it, so a pull may replace it
# A folder source's copy is bounded: a holdouts repository is a few hundred small files.
MAX_COPY_ENTRIES = 10_000
MAX_COPY_BYTES = 100 * 2**20
_COPIED_FROM = "copied by converge from "  # the marker's text, then the source folder

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# git's scp-like syntax: [user@]host:path, with no slash before the colon.
_SCP = re.compile(r"^(?:[^@/:\s]+@)?[^/:\s]+:(?!//)")
_AUTH_HEADER = re.compile(r"(Authorization:\s*\w+\s+)\S+", re.IGNORECASE)
_HEX_REF = re.compile(r"^[0-9a-fA-F]{7,40}$")
# Messages of a fetch that reached the remote but found no such ref: a configuration mistake,
# not an outage, so the previous checkout is no excuse to go on.
_NO_REF = ("couldn't find remote ref", "not our ref", "no such remote ref", "invalid refspec")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def pull(
    source: str,
    ref: str,
    dest: Path | str,
    *,
    root: Path | str = ".",
    token: str | None = None,
    say: Say = _stderr,
    timeout: float = GIT_TIMEOUT,
) -> Path:
    """Make ``dest`` hold the scenarios of ``source`` at ``ref`` ("" = default branch); return it.

    A relative local ``source`` is resolved against ``root`` (the project root).
    """
    dest = Path(dest)
    kind, location = classify(source, Path(root))
    _check_replaceable(dest)
    if kind == "folder":
        if ref:
            raise HoldoutsError(
                f"holdouts source {source!r} is a plain folder, not a git repository, "
                f"so it has no ref {ref!r} (clear holdouts_ref, or point holdouts_repo at git)"
            )
        _copy_folder(Path(location), dest)
        say(f"holdouts: copied {source} into {_shown(dest)}")
        return dest
    _Git(location, token, say, timeout).pull(ref, dest)
    return dest


def recorded_source(dest: Path | str) -> str | None:
    """Where the scenarios in ``dest`` were pulled from, as :func:`pull` recorded it (a folder's
    absolute path, or a git URL or path without credentials); None when converge did not pull
    them."""
    dest = Path(dest)
    try:
        copied = (dest / COPY_MARKER).read_text("utf-8").strip()
    except OSError:
        copied = None
    if copied is not None:
        return copied.removeprefix(_COPIED_FROM)
    try:
        return (dest / ".git" / SOURCE_FILE).read_text("utf-8").strip() or None
    except OSError:
        return None


def same_source(recorded: str, source: str, root: Path) -> bool:
    """Whether a recorded source (:func:`recorded_source`) is ``source`` as configured."""
    source = source.strip()
    if _URL.match(source) or _SCP.match(source):
        return recorded == scrub(source)
    # A local folder or git path, whether or not it still exists (a pull then says what is wrong).
    return recorded == str((root / source).resolve())


def classify(source: str, root: Path) -> tuple[str, str]:
    """``("folder", abs path)`` or ``("git", url-or-abs-path)``; HoldoutsError when neither."""
    source = source.strip()
    if not source:
        raise HoldoutsError("no holdouts source configured (setup.cfg [converge] holdouts_repo)")
    if _URL.match(source) or _SCP.match(source):
        return "git", source
    path = (root / source).resolve()
    if (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir()):
        return "git", str(path)
    if path.is_dir():
        return "folder", str(path)
    raise HoldoutsError(
        f"holdouts source {source!r} is not a folder, a git repository or a git URL "
        f"(looked for {path})"
    )


# --- secrets -----------------------------------------------------------------------------------


def auth_header(token: str) -> str:
    """The header git sends for an HTTPS token (GitHub accepts any user name with a PAT)."""
    return f"Authorization: Basic {git_credential(token)}"


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without credentials: the given secrets (in every spelling, their header form
    too), any ``Authorization:`` value, and the user-info part of URLs (converge's one
    :class:`~converge.redact.Redactor`)."""
    given = [secret for secret in secrets if secret]
    redactor = Redactor([*given, *(git_credential(secret) for secret in given)])
    return _AUTH_HEADER.sub(rf"\1{MASK}", redactor.text(text))


def git_env(
    source: str, token: str | None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment git runs with: no prompts, bounded transfers, and the token (HTTPS only)
    as an extra header scoped to the source's origin, appended to any ``GIT_CONFIG_COUNT``
    entries already present."""
    env = dict(os.environ if base is None else base)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GCM_INTERACTIVE"] = "never"
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes -o ConnectTimeout=20"
    settings = [("http.lowSpeedLimit", "1000"), ("http.lowSpeedTime", "30")]
    parts = urlsplit(source)
    if token and parts.scheme == "https" and parts.hostname:
        origin = f"https://{parts.netloc.rsplit('@', 1)[-1]}/"
        settings.append((f"http.{origin}.extraHeader", auth_header(token)))
    try:
        count = int(env.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        count = 0
    for offset, (key, value) in enumerate(settings):
        env[f"GIT_CONFIG_KEY_{count + offset}"] = key
        env[f"GIT_CONFIG_VALUE_{count + offset}"] = value
    env["GIT_CONFIG_COUNT"] = str(count + len(settings))
    return env


# --- the two kinds of source -------------------------------------------------------------------


def _check_replaceable(dest: Path) -> None:
    """Refuse to pull over anything converge did not put there.

    A pull replaces ``dest`` whole, so a mistyped ``scenarios_dir`` (``.``, a home folder, the
    fixture itself) would otherwise be deleted. Replaceable: nothing, an empty folder, a symlink
    (only the link goes), or a copy or checkout that carries converge's marker. Nothing is
    guessed from names: a folder of the user's that holds ``critical/`` is still the user's.
    """
    if dest.is_symlink() or not dest.exists():
        return
    if dest.is_dir():
        if (dest / COPY_MARKER).is_file() or (dest / ".git" / SOURCE_FILE).is_file():
            return
        if next(dest.iterdir(), None) is None:
            return
    what = "a folder" if dest.is_dir() else "a file"
    raise HoldoutsError(
        f"will not pull the holdouts into {dest}: it is {what} converge did not make (it has no "
        f"{COPY_MARKER} marker), and a pull replaces everything in it; set scenarios_dir to a "
        "new folder, or move that one out of the way and pull again"
    )


class _CopyBudget:
    """Bounds a folder copy in entries and bytes, and lets only regular files and links in.

    Links are copied as links (never followed: a link to ``~/.env`` or ``/dev/zero`` must not
    bring its target in; the loader then refuses the link), so the copy cannot loop either.
    """

    def __init__(self, source: Path) -> None:
        self.source = source
        self.entries = 0
        self.bytes = 0

    def ignore(self, folder: str, names: list[str]) -> set[str]:
        self.entries += len(names)
        if self.entries > MAX_COPY_ENTRIES:
            raise HoldoutsError(
                f"cannot copy the holdouts from {self.source}: more than {MAX_COPY_ENTRIES} "
                "files and folders (a holdouts repository holds a few hundred)"
            )
        return {".git"} & set(names)

    def copy(self, source: str, target: str) -> str:
        info = os.lstat(source)
        if not stat.S_ISREG(info.st_mode):
            raise HoldoutsError(
                f"cannot copy the holdouts from {self.source}: "
                f"{Path(source).relative_to(self.source)} is not a regular file"
            )
        self.bytes += info.st_size
        if self.bytes > MAX_COPY_BYTES:
            raise HoldoutsError(
                f"cannot copy the holdouts from {self.source}: more than "
                f"{MAX_COPY_BYTES // 2**20} MiB of files"
            )
        return str(shutil.copy2(source, target, follow_symlinks=False))


def _copy_folder(source: Path, dest: Path) -> None:
    """Copy next to ``dest``, then swap: a failed copy never leaves a half-filled ``dest``."""
    staging = _sibling(dest, "new")
    budget = _CopyBudget(source)
    try:
        shutil.copytree(
            source, staging, symlinks=True, ignore=budget.ignore, copy_function=budget.copy
        )
        (staging / COPY_MARKER).write_text(f"{_COPIED_FROM}{source}\n", "utf-8")
    except OSError as error:
        _remove(staging)
        raise HoldoutsError(f"cannot copy the holdouts from {source}: {error}") from None
    except BaseException:  # too big, not a file, a signal: nothing is left behind
        _remove(staging)
        raise
    _swap_in(staging, dest)


def _sibling(dest: Path, purpose: str) -> Path:
    """A staging path next to ``dest``, after removing what killed pulls left there."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_siblings(dest)
    path = dest.parent / f".{dest.name}.{purpose}-{os.getpid()}"
    _remove(path)
    return path


def _remove_stale_siblings(dest: Path) -> None:
    # A pull killed outright (SIGKILL, a power cut) cannot clean up after itself: the next one
    # does, for every staging folder whose process is gone.
    pattern = re.compile(rf"\.{re.escape(dest.name)}\.(?:new|old)-(\d+)")
    for entry in dest.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if match is not None and not _alive(int(match.group(1))):
            _remove(entry)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # this pull's own staging (the one in use is removed by its name)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _remove(path: Path) -> None:
    """Remove a staging path, whatever it is (a folder, a file, a link: never a link's target)."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _swap_in(staging: Path, dest: Path) -> None:
    old = _sibling(dest, "old")
    if dest.exists() or dest.is_symlink():
        dest.rename(old)
    staging.rename(dest)
    _remove(old)


class _GitFailed(Exception):
    def __init__(self, message: str, no_ref: bool = False) -> None:
        super().__init__(message)
        self.no_ref = no_ref


@dataclass
class _Git:
    source: str
    token: str | None
    say: Say
    timeout: float

    @property
    def shown_source(self) -> str:
        return scrub(self.source, [self.token])

    def pull(self, ref: str, dest: Path) -> None:
        what = f"{self.shown_source} at {ref or 'its default branch'}"
        if self._previous_checkout(dest):
            try:
                commit = self._update(dest, ref)
            except _GitFailed as failure:
                if failure.no_ref:
                    raise HoldoutsError(f"cannot pull the holdouts {what}: {failure}") from None
                try:
                    commit = self._git(dest, "rev-parse", "HEAD").strip()
                except _GitFailed:
                    raise HoldoutsError(
                        f"cannot pull the holdouts {what}: {failure} (and the previous checkout "
                        f"in {_shown(dest)} is broken)"
                    ) from None
                self.say(
                    f"holdouts: WARNING: cannot reach {self.shown_source} ({failure}); "
                    f"using the previous checkout in {_shown(dest)} at {commit[:12]}, "
                    "which may be out of date"
                )
                return
        else:
            staging = _sibling(dest, "new")
            try:
                self._git(None, "-c", "init.defaultBranch=holdouts", "init", "-q", str(staging))
                commit = self._update(staging, ref)
            except BaseException as failure:
                _remove(staging)  # a signal too: no half-made checkout is left behind
                if not isinstance(failure, _GitFailed):
                    raise
                raise HoldoutsError(
                    f"cannot pull the holdouts {what}: {failure} "
                    f"(and there is no previous checkout of it in {_shown(dest)} to fall back on)"
                ) from None
            (staging / ".git" / SOURCE_FILE).write_text(self.shown_source + "\n", "utf-8")
            _swap_in(staging, dest)
        self.say(f"holdouts: {what} is commit {commit[:12]}, checked out in {_shown(dest)}")

    def _previous_checkout(self, dest: Path) -> bool:
        marker = dest / ".git" / SOURCE_FILE
        try:
            recorded = marker.read_text("utf-8").strip()
        except OSError:
            return False
        return recorded == self.shown_source

    def _update(self, repo: Path, ref: str) -> str:
        try:
            self._fetch(repo, [ref] if ref else [])
        except _GitFailed as failure:
            if not (failure.no_ref and _HEX_REF.match(ref)):
                raise
            # A commit the server will not hand out by id (or an abbreviated one): fetch every
            # branch and tag, then look the commit up locally.
            self._fetch(repo, ["+refs/heads/*:refs/converge/heads/*", "+refs/tags/*:refs/tags/*"])
            try:
                target = self._git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
            except _GitFailed:
                raise _GitFailed(f"no commit {ref} in the repository", no_ref=True) from None
        else:
            target = "FETCH_HEAD"
        target = target.strip()
        self._check_size(repo, target)
        # Checked out with the machine's and the user's git configuration ignored: a filter
        # they define (git-lfs's included) would otherwise run on the holdouts' files when the
        # repository's .gitattributes names it, and git-lfs would fetch from where .lfsconfig
        # says. The holdouts are plain text.
        self._git(repo, "reset", "-q", "--hard", target, isolated=True)
        self._git(repo, "clean", "-q", "-ffdx", isolated=True)
        return self._git(repo, "rev-parse", "HEAD").strip()

    def _check_size(self, repo: Path, target: str) -> None:
        """The same budget as a folder source's, before a byte is checked out: a small
        repository can hold a file of zeros that unpacks to gigabytes."""
        listing = self._git(repo, "ls-tree", "-r", "-l", "-z", target)
        entries = 0
        size = 0
        for record in listing.split("\0"):
            if not record:
                continue
            entries += 1
            fields = record.split("\t", 1)[0].split()
            if len(fields) == 4 and fields[3].isdigit():
                size += int(fields[3])
        what = f"cannot pull the holdouts {self.shown_source}"
        if entries > MAX_COPY_ENTRIES:
            raise HoldoutsError(
                f"{what}: more than {MAX_COPY_ENTRIES} files (a holdouts repository holds a few "
                "hundred)"
            )
        if size > MAX_COPY_BYTES:
            raise HoldoutsError(f"{what}: more than {MAX_COPY_BYTES // 2**20} MiB of files")

    def _fetch(self, repo: Path, refspecs: list[str]) -> None:
        self._git(repo, "fetch", "-q", "--no-tags", "--force", "--", self.source, *refspecs)

    def _git(self, repo: Path | None, *args: str, isolated: bool = False) -> str:
        command = ["git", *(["-C", str(repo)] if repo is not None else []), *args]
        env = git_env(self.source, self.token)
        if isolated:
            env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GIT_ATTR_NOSYSTEM="1")
        try:
            completed = subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise HoldoutsError(
                "git is not installed (it is needed to pull the holdouts)"
            ) from None
        except subprocess.TimeoutExpired:
            raise _GitFailed(f"git {args[0]} timed out after {self.timeout:g}s") from None
        if completed.returncode != 0:
            message = scrub(completed.stderr.strip() or completed.stdout.strip(), [self.token])
            lines = [line.strip() for line in message.splitlines() if line.strip()]
            last = lines[-3:] or [f"exit {completed.returncode}"]
            lowered = message.lower()
            raise _GitFailed(" / ".join(last), no_ref=any(s in lowered for s in _NO_REF))
        return completed.stdout


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
