"""The creator platform (ARCHITECTURE §5 "Publish", §5a bundle layout, §5c signatures, §6 platform shapes):
a bundle becomes a draft, a draft is submitted, the scan explains what it found, clean versions are
signed and published, flagged ones wait for an admin, and the creator may appeal each decision once.

Modules (import what you use; this package imports nothing eagerly, and the heavy libraries — yaml,
cryptography, zipfile/tarfile — load on first use so the API's cold start stays light):

    models     the shapes the routes answer (pydantic)
    bundle     a bundle from JSON `{files: {path: text | {base64}}}`, a .zip or a .tar.gz, safely
               (size and count limits, no absolute paths, `..`, links or bombs) + the bundle layout
    yamldoc    YAML with line numbers (node marks), refusing aliases and duplicate keys
    manifest   openagents.yaml / agent.yaml / SKILL.md front matter as pydantic models; every error
               names its file, line and field
    scan       the static scan: rules (id, severity, explanation) over skills and scripts → findings
    signing    the active signing key (SKILL_SIGNING_KEY), rotation, the public key list
    drafts     create / replace / read the creator's drafts
    publish    submit: scan → publish (sign every skill) or review; also what an approval runs
    review     the admin queue, decisions, appeals, notifications
    published  the public facts of a listing's current version (the agent page's `current_version`)
    versions   new versions of a published agent; archiving one
    semver     ordering of manifest versions (a new version must be newer)
    rollout    a published version's staged rollout to the agent's instances; per-instance pins
    dashboard  the creator's numbers (one named query)
    seed, seed_agents   the demo agents as bundles, published through this same pipeline

Errors callers see are `shared.problems.Problem`s: 422 `bundle-invalid` with `errors: [{file, line,
field, message}]` (`bundle.BundleInvalid`), 403 not a creator / not an admin, 404 not yours, 409 a
slug of someone else's or a step the version's status does not allow, 413 an upload above the limit,
415 an upload type we do not take, 503 `signing-not-configured`.
"""
