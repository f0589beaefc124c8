"""OpenAgents shared library: configuration, data access, auth, domain logic and integrations.

Modules are small and named for what they do; serverless entry points import only what they need,
so heavy dependencies (psycopg, stripe, httpx) are imported where they are first used.
"""
