"""The agent machine's bridge: the one listener on an agent machine, in front of the agent runtime.

See app.py for the routes, turns.py for the event stream, files.py and bundle.py for the volume,
skills.py for skill verification, config.py for the environment, runtime/ for the offline and OpenClaw
runtimes. The machine image ships this package plus `shared/skills/` and `shared/bridge/protocol.py`
(the contract it shares with the platform's bridge client; fly/agent/Dockerfile): modules here import
only the standard library, starlette, uvicorn, anyio, httpx, websockets, cryptography, yaml, this
package, `shared.skills` and `shared.bridge.protocol` — a test checks it.
"""
