"""The SSH command policy (shared.ssh.policy) and the address rule of the SSH client."""

from __future__ import annotations

import pytest

from shared.ssh import client
from shared.ssh.policy import decide


@pytest.mark.parametrize(("command", "allowed"), [
    ("git status", True),
    ("git   status", True),  # blanks are read as the shell reads them
    ("  ls -la /srv  ", True),
    ("rm -rf /", False),  # matches no allow pattern
    ("git push --force", False),  # deny wins over `git *`
    ("git  push   --force origin", False),
    ("ls; rm -rf ~", False),  # shell control syntax: more than one command
    ("ls && rm x", False),
    ("ls | sh", False),
    ("echo `id`", False),
    ("echo $(id)", False),
    ("echo ${HOME}", False),
    ("cat < /etc/passwd", False),
    ("ls > out", False),
    ("ls\nrm x", False),
    ("GIT STATUS", False),  # case-sensitive, as the shell is
    ("", False),
])
def test_deny_wins_and_shell_syntax_is_refused(command, allowed):
    decision = decide(command, allow=["git *", "ls*"], deny=["git push*", "*--force*"])
    assert decision.allowed is allowed, decision


def test_the_allow_list_is_required_and_star_allows_all():
    assert not decide("uptime", allow=[], deny=[]).allowed
    assert decide("uptime", allow=["*"], deny=[]).allowed
    assert decide("uptime", allow=["up?ime"], deny=[]).allowed
    assert "uptime" in decide("uptime", allow=["*"], deny=["up*"]).reason or decide(
        "uptime", allow=["*"], deny=["up*"]).pattern == "up*"


def test_private_addresses_are_refused_unless_allowed():
    for host in ("127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "::1", "[::1]"):
        with pytest.raises(client.SshHostRefused):
            client.resolve(host, 22, allow_private=False)
    assert client.resolve("127.0.0.1", 22, allow_private=True) == "127.0.0.1"
    with pytest.raises(client.SshUnreachable):
        client.resolve("no-such-host.invalid", 22, allow_private=True)


def test_keys_are_checked_without_echoing_them():
    with pytest.raises(client.SshKeyInvalid) as err:
        client.parse_private_key("-----BEGIN " "OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n")
    assert "c2VjcmV0" not in str(err.value)
    target = client.SshTarget("example.test", 22, "u", "very-secret-key", None)
    assert "very-secret-key" not in repr(target)
