"""Keys and the LLM proxy (ARCHITECTURE §5a "LLM proxy", §5b; issue 11).

    providers       the providers, their upstream URLs and platform keys; which provider a model goes to
    keys            BYOK: users' own keys, only in Vault
    tokens          per-instance proxy tokens and the env they give machines
    auth            the proxy's auth kind (`auth="llm-proxy"`): token → the calling instance
    budget          credits and spend caps, checked before every call
    proxy           forwarding a call and relaying the answer (whole or streamed)
    usage           reading a provider's reported usage; metering: recording it once per call
    hourly          settling calls made outside turns
    errors          the refusals, problems with an OpenAI/Anthropic-shaped `error`

Nothing here is imported by package import: machines' env (`tokens`) is needed by the lifecycle, the
rest by `api/llm.py` and `api/keys.py`.
"""
