"""Agent skills: the signature format (§5c) and SKILL.md front matter.

Every module in this package imports only the standard library, `cryptography` and `yaml`: the agent
machine image copies the package as is next to the bridge (fly/agent/Dockerfile). Keep this file free
of imports.
"""
