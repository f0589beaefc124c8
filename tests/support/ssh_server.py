"""A real SSH server on 127.0.0.1 for the SSH-access tests (asyncssh, in its own thread and loop).

It accepts one client public key, has a freshly generated Ed25519 host key, and runs each exec
request with `/bin/sh -c` in a scratch directory, so the platform's client does a full SSH exchange:
key exchange, host key check, public-key auth, a session channel, output, exit status.

    with LocalSshServer(authorized_key=<private key text>) as server:
        server.port, server.host_key (OpenSSH line), server.commands (what arrived, in order)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import threading
from typing import Any

import asyncssh


class LocalSshServer:
    def __init__(self, authorized_key: str) -> None:
        client_key = asyncssh.import_private_key(authorized_key)
        self._authorized = asyncssh.import_authorized_keys(client_key.export_public_key("openssh").decode())
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.host_key = self._host_key.export_public_key("openssh").decode().strip()
        self.commands: list[str] = []
        self._running: list[asyncio.subprocess.Process] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="test-ssh-server")
        self._acceptor: Any = None
        self._workdir = tempfile.mkdtemp(prefix="oa-test-ssh-")

    def __enter__(self) -> LocalSshServer:
        self._thread.start()
        self._acceptor = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        self.port = self._acceptor.get_port()
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            for proc in self._running:
                _kill(proc)
                await proc.wait()
            await asyncio.sleep(0.05)  # let the handlers see their commands end and close their pipes
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> Any:
        return await asyncssh.create_server(
            asyncssh.SSHServer, "127.0.0.1", 0, server_host_keys=[self._host_key],
            authorized_client_keys=self._authorized, process_factory=self._handle, encoding=None,
            password_auth=False, kbdint_auth=False)

    async def _handle(self, process: Any) -> None:
        command = process.command or ""
        self.commands.append(command)
        proc = await asyncio.create_subprocess_shell(command, cwd=self._workdir, stdout=asyncio.subprocess.PIPE,
                                                     stderr=asyncio.subprocess.PIPE, start_new_session=True)
        self._running.append(proc)
        ran = asyncio.ensure_future(proc.communicate())
        gone = asyncio.ensure_future(process.channel.wait_closed())
        await asyncio.wait({ran, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not ran.done():  # the client hung up (its timeout): stop the command, as sshd would
            _kill(proc)
            await ran
            return
        gone.cancel()
        out, err = ran.result()
        process.stdout.write(out)
        process.stderr.write(err)
        process.exit(proc.returncode if proc.returncode is not None and proc.returncode >= 0 else 255)


def _kill(proc: asyncio.subprocess.Process) -> None:
    """The command's whole process group: a shell's children hold its pipes open otherwise."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
