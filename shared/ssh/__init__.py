"""SSH access for Power-plan instances (ARCHITECTURE §6, issue 11).

    models      API shapes (config in/out, exec request/result, audit rows)
    policy      the allow/deny decision for one command (globs, deny wins, no shell control syntax)
    client      running one command over SSH with the Vault-held key (asyncssh, host key pinning)
    access      configure / revoke / exec: plan check, Vault, rate window, audit rows
    audit_log   the per-instance audit page, its CSV export and the 90-day retention
"""
