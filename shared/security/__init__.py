"""Security machinery that several areas share.

    canary          the per-instance prompt-injection canary and the outbound check (web and relays)
    machine_auth    `auth="gateway"`: machine-facing routes authenticated by the instance's gateway token
    account_gate    a deleted account's tokens are refused (checked on every authenticated request)
"""
