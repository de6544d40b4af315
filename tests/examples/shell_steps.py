"""Run the shell commands of a page as a user types them, one line at a time.

The docs and the examples' READMEs show commands to run a controller locally against
the fake apiserver. These helpers run exactly those commands, so the pages cannot rot:

* a ```bash block is split into commands (``\\``-continued lines joined, comments
  dropped);
* ``export NAME=VALUE`` and ``cd DIR`` change the environment and directory of the
  commands after them, as they would in the user's shell;
* ``kcs fake-apiserver ...`` (which the page runs "in one terminal") and any command
  ending in ``&`` run in the background; the next command starts once the fake apiserver
  printed its URL, or once ``kcs run``'s ``/readyz`` answers 200;
* ``kill [-9] %N`` signals the N-th background job (the fake apiserver is not a job, as
  it runs in another terminal), and waits for it to exit;
* anything else runs with ``bash -c`` and must exit 0.

The only changes made to the page's text: fixed ports become free ones, and paths in
``/tmp`` move to the test's own directory (the machine is shared).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from cli_helpers import Running, http_get, kcs_process

from kcs.testing import eventually

Check = Callable[[], Awaitable[object]]



def bash_blocks(text: str, after: str | None = None, before: str | None = None) -> list[str]:
    """The ```bash blocks of ``text``, from the heading (or any text) ``after`` up to the
    next ``before`` (or the end), when given."""
    if after is not None:
        start = text.index(after)
        text = text[start:]
    if before is not None and before in text:
        text = text[: text.index(before)]
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def commands(block: str) -> list[str]:
    """The commands of a block: continued lines joined, comments and blank lines gone."""
    joined = re.sub(r"\\\n\s*", " ", block)
    out = []
    for line in joined.splitlines():
        line = re.sub(r"(^|\s+)#\s.*$", "", line).strip()
        if line:
            out.append(line)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Session:
    """A user's shell: its directory, environment, background jobs and services."""

    cwd: Path
    env: dict[str, str]
    replacements: dict[str, str]
    stack: AsyncExitStack
    jobs: list[Running] = field(default_factory=list)
    services: list[Running] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list)

    def text(self, command: str) -> str:
        for old, new in self.replacements.items():
            command = re.sub(rf"(?<![\w/]){re.escape(old)}(?![\w])", new, command)
        return command

    def log(self) -> str:
        parts = [f"$ {c}\n{o}" for c, o in self.outputs[-10:]]
        parts += [f"--- job {n + 1} ---\n{j.text()}" for n, j in enumerate(self.jobs)]
        parts += [f"--- service ---\n{s.text()}" for s in self.services]
        return "\n".join(parts)

    async def run_all(self, commands: list[str], checks: list[tuple[str, Check]]) -> None:
        """Run ``commands`` in order. ``checks`` are ``(text, check)`` pairs in page order:
        before the first command (after the previous check's) that contains ``text``,
        ``check()`` must pass (polled, bounded): what the page says holds by then."""
        pending = list(checks)
        for command in commands:
            if pending and pending[0][0] in command:
                _, check = pending.pop(0)
                await _until(check, f"before `{command}`", self)
            await self.run(command)
        assert not pending, f"no command contains {pending[0][0]!r}"

    async def run(self, command: str) -> None:
        """Run one command (see the module's docstring)."""
        command = self.text(command)
        words = shlex.split(command)
        if words[0] == "export":
            for assignment in words[1:]:
                name, _, value = assignment.partition("=")
                self.env[name] = os.path.expandvars(value.replace("$PWD", str(self.cwd)))
        elif words[0] == "cd":
            self.cwd = (self.cwd / words[1]).resolve()
        elif words[0] == "kill" and words[-1].startswith("%"):
            job = self.jobs[int(words[-1][1:]) - 1]
            job.process.send_signal(signal.SIGKILL if "-9" in words else signal.SIGTERM)
            with anyio.fail_after(40):
                await job.process.wait()
        elif words[:2] == ["kcs", "fake-apiserver"] or command.endswith("&"):
            await self._background(words[:-1] if words[-1] == "&" else words)
        else:
            with anyio.fail_after(120):
                proc = await anyio.run_process(["bash", "-c", command], cwd=self.cwd,
                                               env=self.env, check=False,
                                               stderr=subprocess.STDOUT)
            output = proc.stdout.decode()
            self.outputs.append((command, output))
            if proc.returncode != 0:
                raise AssertionError(f"`{command}` exited {proc.returncode}:\n{output}\n"
                                     f"{self.log()}")

    async def _background(self, words: list[str]) -> None:
        assert words[0] == "kcs", words
        running = await self.stack.enter_async_context(
            kcs_process(words[1:], env=self.env, cwd=self.cwd))
        if words[1] == "fake-apiserver":
            self.services.append(running)
            await running.wait_line(r"^https?://127\.0\.0\.1:\d+", stream="stdout")
            return
        self.jobs.append(running)
        port = int(next(w for w in words if re.match(r"^(\d+\.){3}\d+:\d+$", w)).split(":")[1])
        await _until(lambda: _ready(port), f"{' '.join(words)} ready", self)


async def _ready(port: int) -> bool:
    try:
        return (await http_get(port, "/readyz"))[0] == 200
    except OSError:
        return False


async def _until(check: Check, what: str, session: Session, within: float = 45.0) -> None:
    await eventually(check, within, what, interval=0.1, log=session.log)


@asynccontextmanager
async def session(cwd: Path, tmp_path: Path, ports: tuple[int, ...] = (8001, 8081, 8082),
                  tmp_files: tuple[str, ...] = ("/tmp/kcs-fake.kubeconfig",)
                  ) -> AsyncIterator[Session]:
    """A shell in ``cwd``; the page's ``ports`` and ``tmp_files`` replaced by free ports
    and files in ``tmp_path``. Background processes are killed at the end."""
    replacements = {str(p): str(free_port()) for p in ports}
    replacements.update({f: str(tmp_path / Path(f).name) for f in tmp_files})
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    # the kcs command of the Python running the tests, first on the PATH
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp_path)  # kubectl's cache, not the user's
    async with AsyncExitStack() as stack:
        yield Session(cwd, env, replacements, stack)
