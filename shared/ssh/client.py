"""Running one command on the owner's host over SSH (asyncssh), with the key kept in Vault.

    SshError                    anything that kept the command from running to an exit status
    ├── SshKeyInvalid           the stored private key (or a given host key) does not parse
    ├── SshHostRefused          the host resolves to an address the platform does not connect to
    ├── SshUnreachable          DNS, TCP or the SSH handshake failed
    ├── SshHostKeyMismatch      the server's host key is not the pinned one
    ├── SshAuthFailed           the server refused the key
    └── SshTimeout              connecting or the command took too long

Nothing here reads the local SSH configuration, agent or known_hosts: the key given is the only
credential, and the host key is checked against the one pinned on the config (given with it, or
recorded on first use). In production the host must resolve to public addresses only, and the
connection goes to the address that was checked, so a name cannot re-resolve to an internal one
between the check and the connect. Output is collected up to a limit; past it the channel is closed.

asyncssh is imported when a command runs, so the API's entry points stay light at import.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any

CONNECT_TIMEOUT_S = 10.0
MAX_OUTPUT_BYTES = 64 * 1024


class SshError(Exception):
    outcome = "failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class SshKeyInvalid(SshError):
    pass


class SshHostRefused(SshError):
    pass


class SshUnreachable(SshError):
    pass


class SshHostKeyMismatch(SshError):
    pass


class SshAuthFailed(SshError):
    pass


class SshTimeout(SshError):
    pass


@dataclass(frozen=True, slots=True)
class SshTarget:
    host: str
    port: int
    username: str
    private_key: str
    host_key: str | None  # OpenSSH public key line the server must present; None: pin what it shows

    def __repr__(self) -> str:  # never the key, whatever prints this
        return f"SshTarget({self.username}@{self.host}:{self.port})"


@dataclass(frozen=True, slots=True)
class SshRun:
    exit_code: int | None  # None when the command ended by a signal
    exit_signal: str | None
    stdout: str
    stderr: str
    truncated: bool
    duration_ms: int
    host_key: str  # what the server presented (OpenSSH form), for pinning on first use


def parse_private_key(text: str) -> Any:
    """The asyncssh key, or SshKeyInvalid (never echoing the key: the message is fixed)."""
    import asyncssh

    try:
        return asyncssh.import_private_key(text)
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError, TypeError):
        raise SshKeyInvalid("the private key is not an unencrypted OpenSSH, PKCS#8 or PEM private key") from None


def key_fingerprint(private_key: Any) -> str:
    return str(private_key.get_fingerprint("sha256"))


def parse_host_key(text: str) -> Any:
    import asyncssh

    try:
        return asyncssh.import_public_key(text)
    except (asyncssh.KeyImportError, ValueError, TypeError):
        raise SshKeyInvalid("the host key is not an OpenSSH public key (e.g. `ssh-ed25519 AAAA…`)") from None


def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to: the host's first address, all of which must be public unless
    `allow_private` (dev and test: SSH servers on loopback)."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise SshUnreachable(f"the host name does not resolve ({exc.__class__.__name__})") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise SshUnreachable("the host name does not resolve")
    if not allow_private:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global or ip.is_multicast:
                raise SshHostRefused("the host resolves to a private, loopback or reserved address")
    return addresses[0]


def run_command(target: SshTarget, command: str, *, timeout_s: float, allow_private: bool,
                max_output: int = MAX_OUTPUT_BYTES) -> SshRun:
    """Connects, runs `command`, returns its exit and output; raises an SshError otherwise."""
    key = parse_private_key(target.private_key)
    pinned = parse_host_key(target.host_key) if target.host_key else None
    address = resolve(target.host, target.port, allow_private=allow_private)
    import asyncio  # here, not at import: the API's entry point stays light

    return asyncio.run(_run(address, target, key, pinned, command, timeout_s, max_output))


class _Collector:
    """An SSH client session that keeps at most `limit` bytes of output (stdout and stderr together)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.truncated = False
        self.exit_code: int | None = None
        self.exit_signal: str | None = None
        self._chan: Any = None

    # asyncssh.SSHClientSession's callbacks (duck-typed, so the module imports without asyncssh)
    def connection_made(self, chan: Any) -> None:
        self._chan = chan

    def session_started(self) -> None:
        pass

    def data_received(self, data: bytes, datatype: Any) -> None:
        room = self.limit - len(self.stdout) - len(self.stderr)
        (self.stderr if datatype else self.stdout).extend(data[:max(room, 0)])
        if len(data) > room and not self.truncated:
            self.truncated = True
            self._chan.close()

    def eof_received(self) -> bool:
        return False

    def exit_status_received(self, status: int) -> None:
        self.exit_code = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit_signal = signal

    def connection_lost(self, exc: Exception | None) -> None:
        pass

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass

    def xon_xoff_requested(self, client_can_do: bool) -> None:
        pass


async def _run(address: str, target: SshTarget, key: Any, pinned: Any, command: str, timeout_s: float,
               max_output: int) -> SshRun:
    import asyncio

    import asyncssh

    # asyncssh logs each command and peer at INFO: commands are the owner's data (and may carry
    # their secrets), so only its warnings reach our logs; the audit log is the record.
    logging.getLogger("asyncssh").setLevel(logging.WARNING)

    started = time.monotonic()
    known_hosts: Any = ([pinned], [], []) if pinned is not None else None
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S + timeout_s):
            conn = await asyncssh.connect(
                address, target.port, username=target.username, client_keys=[key], known_hosts=known_hosts,
                config=None, agent_path=None, password=None, kbdint_auth=False, gss_auth=False, gss_kex=False,
                preferred_auth="publickey", connect_timeout=CONNECT_TIMEOUT_S, login_timeout=CONNECT_TIMEOUT_S,
                client_version="OpenAgents")
            async with conn:
                seen = conn.get_server_host_key()
                seen_text = seen.export_public_key("openssh").decode().strip() if seen is not None else ""
                collector = _Collector(max_output)
                chan, _ = await conn.create_session(lambda: collector, command, encoding=None)  # type: ignore[arg-type, return-value]
                chan.write_eof()
                try:
                    await asyncio.wait_for(chan.wait_closed(), timeout_s)
                except TimeoutError:
                    chan.close()
                    raise SshTimeout(f"the command ran longer than {timeout_s:g} s") from None
    except SshError:
        raise
    except TimeoutError:
        raise SshTimeout("connecting took too long") from None
    except asyncssh.HostKeyNotVerifiable:
        raise SshHostKeyMismatch("the server's host key is not the pinned one") from None
    except asyncssh.PermissionDenied:
        raise SshAuthFailed("the server refused the key") from None
    except (OSError, asyncssh.Error) as exc:
        raise SshUnreachable(f"the SSH connection failed ({exc.__class__.__name__})") from None
    return SshRun(exit_code=collector.exit_code, exit_signal=collector.exit_signal,
                  stdout=collector.stdout.decode("utf-8", "replace"), stderr=collector.stderr.decode("utf-8", "replace"),
                  truncated=collector.truncated, duration_ms=int((time.monotonic() - started) * 1000),
                  host_key=seen_text)
