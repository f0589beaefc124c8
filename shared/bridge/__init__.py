"""The agent machine's bridge as the platform sees it (ARCHITECTURE §5a).

    protocol   the contract, shared with the bridge itself: paths, headers, event names, SSE framing,
               problem bodies, file metadata (standard library only: the machine image copies it)
    target     MachineTarget: how to reach one instance's machine
    client     the one client: turns through the SSE gateway, everything else through Fly's proxy

This file imports nothing: the machine image copies it with `protocol.py` and nothing else.
"""
