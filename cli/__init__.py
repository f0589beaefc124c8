"""The `openagents` command (subcommands fixed by ARCHITECTURE §6)."""
