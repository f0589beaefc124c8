"""The local stack: everything `make dev` and the tests run on this machine (ARCHITECTURE §2)."""
