"""holdouts.pull against real git repositories made here, with a local bare repo as the remote."""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from converge import holdouts
from converge.errors import EXIT_ERROR, HoldoutsError
from tests.support.gitserver import GitServer, git_server
from tests.support.tls import certificates, server_context

REPO = Path(__file__).resolve().parents[1]

TOKEN = "ghp_testtoken_0123456789abcdefABCDEF"
GIT_ID = {
    "GIT_AUTHOR_NAME": "Holdouts Author",
    "GIT_AUTHOR_EMAIL": "author@converge.test",
    "GIT_COMMITTER_NAME": "Holdouts Author",
    "GIT_COMMITTER_EMAIL": "author@converge.test",
}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ID, "GIT_CONFIG_NOSYSTEM": "1"}
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


class Remote:
    """A bare repository plus a working clone that pushes to it."""

    def __init__(self, base: Path) -> None:
        self.bare = base / "remote.git"
        self.work = base / "author"
        git(base, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(base, "init", "-q", "-b", "main", str(self.work))
        git(self.work, "remote", "add", "origin", str(self.bare))

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        return git(self.work, "rev-parse", "HEAD")

    def push(self, *refs: str, force: bool = False) -> None:
        git(self.work, "push", "-q", *(["--force"] if force else []), "origin", *refs)


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    remote = Remote(tmp_path)
    remote.commit({"critical/a.yaml": "v1\n"}, "first")
    remote.push("main")
    return remote


def pull(remote: Remote | str, dest: Path, ref: str = "", **kwargs: object) -> list[str]:
    said: list[str] = []
    source = remote if isinstance(remote, str) else str(remote.bare)
    holdouts.pull(source, ref, dest, say=said.append, **kwargs)  # type: ignore[arg-type]
    return said


def test_clone_checks_out_the_default_branch(remote: Remote, tmp_path: Path) -> None:
    dest = tmp_path / ".holdouts"
    said = pull(remote, dest)
    assert (dest / "critical/a.yaml").read_text() == "v1\n"
    assert "commit" in said[-1]


def test_pull_again_follows_new_commits(remote: Remote, tmp_path: Path) -> None:
    dest = tmp_path / ".holdouts"
    pull(remote, dest)
    remote.commit({"critical/a.yaml": "v2\n", "important/b.yaml": "b\n"})
    remote.push("main")
    pull(remote, dest)
    assert (dest / "critical/a.yaml").read_text() == "v2\n"
    assert (dest / "important/b.yaml").exists()


def test_update_discards_local_edits_and_untracked_files(remote: Remote, tmp_path: Path) -> None:
    dest = tmp_path / ".holdouts"
    pull(remote, dest)
    (dest / "critical/a.yaml").write_text("edited\n")
    (dest / "critical/stray.yaml").write_text("stray\n")
    pull(remote, dest)
    assert (dest / "critical/a.yaml").read_text() == "v1\n"
    assert not (dest / "critical/stray.yaml").exists()


def test_ref_change_to_branch_tag_and_commit(remote: Remote, tmp_path: Path) -> None:
    first = git(remote.work, "rev-parse", "HEAD")
    git(remote.work, "tag", "-a", "v1", "-m", "release one")
    second = remote.commit({"critical/a.yaml": "v2\n"})
    git(remote.work, "checkout", "-q", "-b", "feature")
    remote.commit({"critical/a.yaml": "feature\n"})
    remote.push("main", "feature", "v1")
    dest = tmp_path / ".holdouts"

    pull(remote, dest)
    assert (dest / "critical/a.yaml").read_text() == "v2\n"
    pull(remote, dest, "feature")
    assert (dest / "critical/a.yaml").read_text() == "feature\n"
    pull(remote, dest, "v1")
    assert (dest / "critical/a.yaml").read_text() == "v1\n"
    pull(remote, dest, second)
    assert git(dest, "rev-parse", "HEAD") == second
    pull(remote, dest, first[:10])  # abbreviated: found after fetching every branch and tag
    assert git(dest, "rev-parse", "HEAD") == first


def test_force_pushed_remote_is_followed(remote: Remote, tmp_path: Path) -> None:
    remote.commit({"critical/a.yaml": "v2\n"})
    remote.push("main")
    dest = tmp_path / ".holdouts"
    pull(remote, dest)
    git(remote.work, "reset", "-q", "--hard", "HEAD~1")
    rewritten = remote.commit({"critical/a.yaml": "rewritten\n"}, "rewrite history")
    remote.push("main", force=True)
    pull(remote, dest)
    assert git(dest, "rev-parse", "HEAD") == rewritten
    assert (dest / "critical/a.yaml").read_text() == "rewritten\n"


def test_unknown_ref_is_an_error_even_with_a_previous_checkout(
    remote: Remote, tmp_path: Path
) -> None:
    dest = tmp_path / ".holdouts"
    pull(remote, dest)
    with pytest.raises(HoldoutsError, match="no-such-branch"):
        pull(remote, dest, "no-such-branch")


def test_unreachable_remote_uses_previous_checkout_with_warning(
    remote: Remote, tmp_path: Path
) -> None:
    dest = tmp_path / ".holdouts"
    url = remote.bare.as_uri()
    pull(url, dest)
    moved = remote.bare.rename(tmp_path / "gone.git")
    assert moved.exists()
    said = pull(url, dest)
    assert "WARNING" in said[-1]
    assert "previous checkout" in said[-1]
    assert (dest / "critical/a.yaml").read_text() == "v1\n"


def test_unreachable_remote_without_checkout_exits_2(tmp_path: Path) -> None:
    dest = tmp_path / ".holdouts"
    with pytest.raises(HoldoutsError, match="no previous checkout of it") as raised:
        pull((tmp_path / "missing.git").as_uri(), dest)
    assert raised.value.exit_code == EXIT_ERROR
    assert not dest.exists()
    assert not list(tmp_path.glob(".*.new-*")), "the staging checkout is cleaned up"


def test_checkout_of_another_source_is_no_fallback(remote: Remote, tmp_path: Path) -> None:
    dest = tmp_path / ".holdouts"
    pull(remote, dest)
    with pytest.raises(HoldoutsError):
        pull((tmp_path / "other.git").as_uri(), dest)


def test_local_folder_is_copied_replacing_the_destination(tmp_path: Path) -> None:
    source = tmp_path / "fixture"
    (source / "critical").mkdir(parents=True)
    (source / "critical/a.yaml").write_text("a\n")
    dest = tmp_path / ".holdouts"
    (dest / "critical").mkdir(parents=True)
    (dest / "critical/stale.yaml").write_text("stale\n")
    (dest / holdouts.COPY_MARKER).write_text("copied by converge from an earlier source\n")
    said = pull("fixture", dest, root=tmp_path)
    assert (dest / "critical/a.yaml").read_text() == "a\n"
    assert not (dest / "critical/stale.yaml").exists()
    assert "copied" in said[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".holdouts", "fixture"]


@pytest.mark.parametrize("kind", ["folder", "git"])
def test_a_folder_converge_did_not_make_is_never_replaced(
    remote: Remote, tmp_path: Path, kind: str
) -> None:
    # A mistyped scenarios_dir (".", "..", "/etc", a home folder) must not be wiped by the swap.
    (tmp_path / "fixture/critical").mkdir(parents=True)
    (tmp_path / "fixture/critical/a.yaml").write_text("a\n")
    source = "fixture" if kind == "folder" else str(remote.bare)
    precious = tmp_path / "precious"
    (precious / "critical").mkdir(parents=True)
    (precious / "notes.txt").write_text("keep me\n")
    user_repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", str(user_repo))
    (user_repo / "critical").mkdir()
    for dest in (precious, user_repo):
        before = sorted(p.relative_to(dest) for p in dest.rglob("*"))
        with pytest.raises(HoldoutsError, match="converge did not make"):
            pull(source, dest, root=tmp_path)
        assert sorted(p.relative_to(dest) for p in dest.rglob("*")) == before
    assert (precious / "notes.txt").read_text() == "keep me\n"
    a_file = tmp_path / "file"
    a_file.write_text("not a folder\n")
    with pytest.raises(HoldoutsError, match="converge did not make"):
        pull(source, a_file, root=tmp_path)
    assert a_file.read_text() == "not a folder\n"


def test_a_copy_is_marked_so_that_the_next_pull_replaces_it(tmp_path: Path) -> None:
    source = tmp_path / "fixture"
    (source / "critical").mkdir(parents=True)
    (source / "critical/a.yaml").write_text("a\n")
    (source / "README.md").write_text("not a tier\n")
    dest = tmp_path / ".holdouts"
    pull("fixture", dest, root=tmp_path)
    assert (dest / holdouts.COPY_MARKER).is_file()
    (source / "critical/a.yaml").write_text("a2\n")
    pull("fixture", dest, root=tmp_path)
    assert (dest / "critical/a.yaml").read_text() == "a2\n"
    (tmp_path / "empty").mkdir()
    pull("fixture", tmp_path / "empty", root=tmp_path)
    assert (tmp_path / "empty/critical/a.yaml").is_file()


def test_local_folder_with_a_ref_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "fixture").mkdir()
    with pytest.raises(HoldoutsError, match="plain folder"):
        pull("fixture", tmp_path / ".holdouts", "main", root=tmp_path)


def test_missing_source_names_it(tmp_path: Path) -> None:
    with pytest.raises(HoldoutsError, match="'nowhere' is not a folder"):
        pull("nowhere", tmp_path / ".holdouts", root=tmp_path)


def test_local_repository_path_is_treated_as_git(remote: Remote, tmp_path: Path) -> None:
    assert holdouts.classify(str(remote.work), tmp_path)[0] == "git"
    assert holdouts.classify(str(remote.bare), tmp_path)[0] == "git"
    assert holdouts.classify("git@github.com:org/holdouts.git", tmp_path)[0] == "git"
    assert holdouts.classify("https://github.com/org/holdouts.git", tmp_path)[0] == "git"
    dest = tmp_path / ".holdouts"
    pull(str(remote.work), dest)
    assert (dest / "critical/a.yaml").read_text() == "v1\n"


# --- the token ---------------------------------------------------------------------------------


def test_token_becomes_an_extra_header_scoped_to_the_origin() -> None:
    env = holdouts.git_env("https://github.com/org/holdouts.git", TOKEN, base={})
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    keys = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(3)}
    assert keys["http.https://github.com/.extraHeader"] == holdouts.auth_header(TOKEN)
    assert env["GIT_CONFIG_COUNT"] == "3"


def test_token_is_appended_after_existing_git_config_entries() -> None:
    base = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "a.b", "GIT_CONFIG_VALUE_0": "c"}
    env = holdouts.git_env("https://host.test/r.git", TOKEN, base=base)
    assert env["GIT_CONFIG_KEY_0"] == "a.b"
    assert env["GIT_CONFIG_COUNT"] == "4"


def test_token_is_not_sent_over_ssh_or_plain_http() -> None:
    for source in ("git@github.com:org/r.git", "http://host.test/r.git", "/some/path"):
        env = holdouts.git_env(source, TOKEN, base={})
        assert not any(TOKEN in v or "Authorization" in v for v in env.values())


def test_git_itself_sees_the_header_only_through_the_environment(tmp_path: Path) -> None:
    env = holdouts.git_env("https://github.com/org/r.git", TOKEN, base=dict(os.environ))
    shown = subprocess.run(
        ["git", "config", "--get", "http.https://github.com/.extraheader"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert shown == holdouts.auth_header(TOKEN)


def test_scrub_removes_token_header_and_url_credentials() -> None:
    header = holdouts.auth_header(TOKEN)
    text = (
        f"fatal: unable to access 'https://user:{TOKEN}@github.com/o/r.git/': {header} "
        f"token={TOKEN} Authorization: Bearer abc.def"
    )
    scrubbed = holdouts.scrub(text, [TOKEN])
    assert TOKEN not in scrubbed
    assert header.split()[-1] not in scrubbed
    assert "abc.def" not in scrubbed
    assert "github.com/o/r.git" in scrubbed


@pytest.fixture
def recording_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake `git` first on PATH: records argv and env, then fails like git would, echoing
    the credentials it was given into its error output."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "git-calls.log"
    script = bin_dir / "git"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "ARGV $*" >> "{log}"\n'
        f'env | grep GIT_CONFIG >> "{log}"\n'
        'case "$*" in *fetch*) ;; *) exec /usr/bin/git "$@" ;; esac\n'
        'echo "fatal: unable to access: $GIT_CONFIG_VALUE_2" >&2\n'
        f'echo "remote said {TOKEN}" >&2\n'
        "exit 128\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("GIT_CONFIG_COUNT", raising=False)
    return log


def test_token_never_reaches_argv_or_error_message(recording_git: Path, tmp_path: Path) -> None:
    dest = tmp_path / ".holdouts"
    with pytest.raises(HoldoutsError) as raised:
        pull("https://github.com/org/holdouts.git", dest, token=TOKEN)
    calls = recording_git.read_text()
    argv_lines = [line for line in calls.splitlines() if line.startswith("ARGV")]
    assert any("fetch" in line for line in argv_lines)
    assert not any(TOKEN in line for line in argv_lines)
    assert holdouts.auth_header(TOKEN) in calls, "the header went through the environment"
    message = str(raised.value)
    assert TOKEN not in message
    assert holdouts.auth_header(TOKEN).split()[-1] not in message
    assert "unable to access" in message


# --- the token over HTTPS, end to end ----------------------------------------------------------


def secret_forms(token: str) -> list[str]:
    """The token as written and as it travels: git sends it base64-encoded in a Basic header."""
    encoded = [f"x-access-token:{token}", token, f":{token}"]
    return [token, *(base64.b64encode(text.encode()).decode() for text in encoded)]


def assert_nowhere(token: str, folder: Path, *texts: str) -> None:
    """Neither form of ``token`` is in ``texts`` or in any file under ``folder`` (.git too)."""
    for form in secret_forms(token):
        for text in texts:
            assert form not in text, f"{form!r} in {text!r}"
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert form.encode() not in path.read_bytes(), f"{form!r} in {path}"


@pytest.fixture
def server(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GitServer]:
    """``remote`` served over HTTPS (a private CA git trusts here) to Basic auth with TOKEN, at
    ``{server.url}/remote.git``."""
    tls = tmp_path / "tls"
    tls.mkdir()
    ca, cert, key = certificates(tls)
    monkeypatch.setenv("GIT_SSL_CAINFO", str(ca))
    # Only converge's own settings: no credential helper or header of the machine's.
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.delenv("GIT_CONFIG_COUNT", raising=False)
    with git_server(tmp_path, server_context(cert, key), password=TOKEN) as running:
        yield running


def test_an_https_pull_sends_the_token_and_writes_it_nowhere(
    server: GitServer, remote: Remote, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    https_remote = f"{server.url}/remote.git"
    dest = tmp_path / "project" / ".holdouts"
    said = pull(https_remote, dest, token=TOKEN)
    assert (dest / "critical/a.yaml").read_text() == "v1\n"
    remote.commit({"critical/a.yaml": "v2\n"})
    remote.push("main")
    said += pull(https_remote, dest, token=TOKEN)  # a fetch into the existing checkout
    assert (dest / "critical/a.yaml").read_text() == "v2\n"

    basic = holdouts.auth_header(TOKEN).removeprefix("Authorization: ")
    assert server.authorizations and set(server.authorizations) == {basic}, "sent every time"
    assert server.refused == 0
    out, err = capfd.readouterr()
    assert_nowhere(TOKEN, tmp_path / "project", "\n".join(said), out, err)
    assert holdouts.recorded_source(dest) == https_remote


def test_a_refused_token_is_named_nowhere_either(
    server: GitServer, remote: Remote, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    https_remote = f"{server.url}/remote.git"
    wrong = "ghp_wrongtoken_9876543210zyxwvuZYXWVU"
    dest = tmp_path / "project" / ".holdouts"
    pull(https_remote, dest, token=TOKEN)
    said = pull(https_remote, dest, token=wrong)  # falls back on the checkout, with a warning
    assert any("WARNING" in line for line in said), said
    with pytest.raises(HoldoutsError) as raised:
        pull(https_remote, tmp_path / "project" / "fresh", token=wrong)

    assert server.refused >= 2
    out, err = capfd.readouterr()
    assert_nowhere(wrong, tmp_path / "project", "\n".join(said), str(raised.value), out, err)
    assert not (tmp_path / "project" / "fresh").exists()


def test_the_pull_task_with_holdout_pat_writes_the_token_nowhere(
    server: GitServer, tmp_path: Path
) -> None:
    https_remote = f"{server.url}/remote.git"
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "tasks.py", project)
    shutil.copy(REPO / "setup.cfg", project)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    env["HOLDOUT_PAT"] = TOKEN
    outputs = []
    for task in (["holdouts.pull", "--holdouts-repo", https_remote], ["holdouts.validate"]):
        done = subprocess.run(
            [sys.executable, "-m", "invoke", "-r", str(project), *task], cwd=project, env=env,
            capture_output=True, text=True, timeout=120, check=False,
        )
        outputs += [done.stdout, done.stderr]
        assert done.returncode in (0, 2), done.stderr  # validate refuses "v1": not a scenario
    assert (project / ".holdouts/critical/a.yaml").is_file(), outputs
    assert server.authorizations, "the token was sent"
    assert_nowhere(TOKEN, project, *outputs)


# --- nothing is deleted or read outside what converge owns ------------------------------------


def tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (links as links), with its content or link target."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            found[key] = "-> " + str(path.readlink())
        elif path.is_file():
            found[key] = path.read_text()
        else:
            found[key] = "/"
    return found


def fixture(tmp_path: Path) -> Path:
    source = tmp_path / "fixture"
    (source / "critical").mkdir(parents=True)
    (source / "critical/a.yaml").write_text("name: A\nsteps: [{path: /}]\n")
    return source


@pytest.mark.parametrize(
    "contents",
    [
        {"critical/precious.yaml": "mine\n", "important/notes.txt": "notes\n", ".myconfig": "x\n"},
        {"critical": "a file named after a tier\n"},
    ],
    ids=["tier-named-folders", "tier-named-file"],
)
def test_tier_names_never_make_a_users_folder_replaceable(
    tmp_path: Path, contents: dict[str, str]
) -> None:
    fixture(tmp_path)
    userdir = tmp_path / "userdir"
    for name, text in contents.items():
        (userdir / name).parent.mkdir(parents=True, exist_ok=True)
        (userdir / name).write_text(text)
    before = tree(userdir)
    with pytest.raises(HoldoutsError) as raised:
        pull("fixture", userdir, root=tmp_path)
    assert raised.value.exit_code == EXIT_ERROR
    assert "move that one out of the way" in str(raised.value)
    assert tree(userdir) == before


def test_the_source_folder_itself_is_never_replaced(tmp_path: Path) -> None:
    source = fixture(tmp_path)
    before = tree(source)
    with pytest.raises(HoldoutsError, match="converge did not make"):
        pull("fixture", source, root=tmp_path)
    assert tree(source) == before


def test_links_in_a_folder_source_are_copied_as_links_and_never_read(tmp_path: Path) -> None:
    from converge.engine import validate
    from converge.errors import ScenarioError

    source = fixture(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.env").write_text("AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI\n")
    (source / "critical/evil.yaml").symlink_to("../../outside/secret.env")
    (source / "critical/zero.yaml").symlink_to("/dev/zero")
    (source / "a").symlink_to(".")
    (source / "b").symlink_to(".")
    dest = tmp_path / ".holdouts"
    pull("fixture", dest, root=tmp_path)
    copied = tree(dest)
    assert copied["critical/evil.yaml"] == "-> ../../outside/secret.env"
    assert copied["critical/zero.yaml"] == "-> /dev/zero"
    assert copied["a"] == "-> ." and copied["b"] == "-> ."
    assert len(copied) == 7  # critical/, a.yaml, the four links, the marker
    with pytest.raises(ScenarioError) as raised:
        validate(dest)
    message = str(raised.value)
    assert "AWS_SECRET_ACCESS_KEY" not in message and "wJalrXUtnFEMI" not in message
    assert "a symbolic link to a file outside the scenarios directory: not read" in message


def test_a_folder_source_is_bounded_in_entries_and_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = fixture(tmp_path)
    for index in range(30):
        (source / "critical" / f"s{index}.yaml").write_text("x" * 100)
    dest = tmp_path / ".holdouts"
    monkeypatch.setattr(holdouts, "MAX_COPY_ENTRIES", 20)
    with pytest.raises(HoldoutsError, match="more than 20 files and folders"):
        pull("fixture", dest, root=tmp_path)
    monkeypatch.setattr(holdouts, "MAX_COPY_ENTRIES", 1000)
    monkeypatch.setattr(holdouts, "MAX_COPY_BYTES", 2000)
    with pytest.raises(HoldoutsError, match="more than 0 MiB of files"):
        pull("fixture", dest, root=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fixture"]  # no staging left


def test_a_special_file_in_a_folder_source_is_refused(tmp_path: Path) -> None:
    source = fixture(tmp_path)
    os.mkfifo(source / "critical/pipe.yaml")  # reading it would wait for a writer forever
    with pytest.raises(HoldoutsError, match=r"critical/pipe\.yaml is not a regular file"):
        pull("fixture", tmp_path / ".holdouts", root=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fixture"]


def test_pulling_into_a_symlinked_scenarios_dir_leaves_no_old_link(tmp_path: Path) -> None:
    fixture(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "linkdest"
    link.symlink_to("elsewhere")
    pull("fixture", link, root=tmp_path)
    assert (link / "critical/a.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "fixture", "linkdest"]


def test_what_a_killed_pull_left_is_cleaned_up_by_the_next(tmp_path: Path) -> None:
    fixture(tmp_path)
    dead = subprocess.Popen(["true"])  # a process id that is gone
    dead.wait()
    for purpose in ("new", "old"):
        stale = tmp_path / f"..holdouts.{purpose}-{dead.pid}"
        (stale / "critical").mkdir(parents=True)
        (stale / "critical/half.yaml").write_text("half a copy\n")
    pull("fixture", tmp_path / ".holdouts", root=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".holdouts", "fixture"]


def test_a_git_source_is_bounded_in_files_and_bytes_before_anything_is_checked_out(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A repository of a few kilobytes can hold a file of zeros that unpacks to gigabytes.
    remote.commit({f"critical/s{index}.yaml": "x" * 1000 for index in range(6)})
    remote.push("main")
    dest = tmp_path / ".holdouts"
    monkeypatch.setattr(holdouts, "MAX_COPY_ENTRIES", 5)
    with pytest.raises(HoldoutsError, match="more than 5 files"):
        pull(remote, dest)
    monkeypatch.setattr(holdouts, "MAX_COPY_ENTRIES", 1000)
    monkeypatch.setattr(holdouts, "MAX_COPY_BYTES", 5000)
    with pytest.raises(HoldoutsError, match="more than 0 MiB of files"):
        pull(remote, dest)
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["author", "remote.git"]  # no staging


def test_a_filter_the_machine_defines_never_runs_on_the_holdouts(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # git-lfs is such a filter on most CI runners: a repository's .gitattributes could set it
    # off (and its .lfsconfig send it anywhere). The holdouts are checked out without them.
    ran = tmp_path / "filter-ran"
    home = tmp_path / "home"
    home.mkdir()
    smudge = tmp_path / "smudge.sh"
    smudge.write_text(f'#!/bin/sh\ntouch "{ran}"\nexec cat\n')
    smudge.chmod(0o755)
    (home / ".gitconfig").write_text(f'[filter "evil"]\n\tsmudge = {smudge}\n\tclean = cat\n')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    remote.commit({".gitattributes": "*.yaml filter=evil\n", "critical/b.yaml": "v2\n"})
    remote.push("main")
    dest = tmp_path / ".holdouts"
    pull(remote, dest)
    assert (dest / "critical" / "b.yaml").read_text() == "v2\n"
    assert not ran.exists()
