"""What the platform routes answer and take (ARCHITECTURE §6 "Platform shapes" are fixed; the rest is ours)."""

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field

from shared.models import Model
from shared.pagination import PageQuery

Severity = Literal["info", "warning", "critical"]
SubmitStatus = Literal["published", "review", "rejected"]


class BundleIssue(Model):
    """One validation error: where (file relative to the bundle root, 1-based line, dotted field) and why."""
    file: str | None
    line: int | None
    field: str | None
    message: str


class Finding(Model):
    """One scan finding: the rule that fired, how bad it is, and the line that triggered it."""
    rule: str
    severity: Severity
    file: str
    line: int
    message: str


class FileEntry(Model):
    path: str
    size: int
    sha256: str


class SkillEntry(Model):
    name: str
    description: str
    permissions: dict[str, Any]


class Appeal(Model):
    id: UUID
    message: str
    created_at: datetime


class Decision(Model):
    id: UUID
    decision: Literal["flagged", "approved", "rejected"]
    reason: str
    decided_by: Literal["scan", "admin"]
    created_at: datetime
    appeal: Appeal | None = None


class VersionInfo(Model):
    id: UUID
    version: str
    status: str
    openclaw_version: str
    changelog: str
    findings: list[Finding]
    review_reason: str | None
    created_at: datetime
    submitted_at: datetime | None
    published_at: datetime | None
    files: list[FileEntry]
    skills: list[SkillEntry]
    decisions: list[Decision]


class RolloutStage(Model):
    """One stage of a rollout: how many instances it asked to update and how that went."""
    stage: int = Field(description="1: the first share of the instances; 2: all the others.")
    instances: int
    updated: int
    pending: int
    failed: int
    skipped: int = Field(description="Destroyed or pinned to another version meanwhile.")


class Rollout(Model):
    """How a published version reaches the agent's live instances (shared/platform/rollout.py)."""
    status: Literal["rolling", "done", "halted", "superseded"]
    stage: int
    first_stage_percent: int
    started_at: datetime
    stage_started_at: datetime
    finished_at: datetime | None
    detail: str | None
    stages: list[RolloutStage]


class VersionSummary(Model):
    id: UUID
    version: str
    status: str
    changelog: str
    created_at: datetime
    submitted_at: datetime | None
    published_at: datetime | None
    instances: int = Field(description="Live instances running this version.")
    rollout: Rollout | None = Field(description="Set once the version was published to an agent with instances.")


class DraftSummary(Model):
    id: UUID
    slug: str
    name: str
    tagline: str
    category: str
    status: str
    version: str | None = Field(description="The version being worked on, else the published one.")
    version_status: str | None
    current_version_id: UUID | None
    created_at: datetime
    updated_at: datetime


class Draft(Model):
    """A creator's listing with the version being worked on (else the published one)."""
    id: UUID
    slug: str
    name: str
    tagline: str
    description: str
    category: str
    tags: list[str]
    status: str
    pricing_model: str
    credits_price: int
    memory_mb: int
    relays: list[str]
    models: list[str]
    current_version_id: UUID | None
    version: VersionInfo | None
    versions: list[VersionSummary] = Field(default_factory=list, description="Every version, newest first.")
    created_at: datetime
    updated_at: datetime


class SubmitResult(Model):
    version_id: UUID
    status: SubmitStatus
    findings: list[Finding]


class BundleFileValue(Model):
    model_config = ConfigDict(extra="forbid")
    # Documented limits: the upload is parsed by shared.platform.bundle, which enforces them per file.
    base64: str = Field(max_length=(1 << 20) * 4 // 3 + 8, description="Standard base64 of the file's bytes.")


class BundleBody(Model):
    model_config = ConfigDict(extra="forbid")
    files: dict[str, Annotated[str, Field(max_length=1 << 20)] | BundleFileValue] = Field(
        description="Bundle path → UTF-8 text, or `{base64}` for any bytes (ARCHITECTURE §5a layout).")


class BundleUpload(Model):
    """`application/json` form of an upload; `application/zip` and `application/gzip` (.tar.gz) bodies
    carry the same files as an archive."""
    model_config = ConfigDict(extra="forbid")
    bundle: BundleBody


class AppealBody(Model):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=4000)


class AppealResult(Model):
    id: UUID
    version_id: UUID
    decision_id: UUID
    status: str = Field(description="The version's status after the appeal (a rejected version goes back to review).")
    message: str
    created_at: datetime


class ReviewDecisionBody(Model):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=2000)


class ReviewOutcome(Model):
    version_id: UUID
    status: Literal["published", "rejected"]
    decision_id: UUID


class ReviewAgent(Model):
    id: UUID
    slug: str
    name: str
    status: str


class ReviewCreator(Model):
    id: UUID
    name: str | None


class ReviewItem(Model):
    version_id: UUID
    version: str
    agent: ReviewAgent
    creator: ReviewCreator
    submitted_at: datetime | None
    findings: list[Finding]
    files: list[FileEntry]
    skills: list[SkillEntry]
    decisions: list[Decision]


class ReviewQuery(PageQuery):
    pass


class SigningKey(Model):
    key_id: str
    public_key: str = Field(description="base64url of the raw 32-byte Ed25519 public key")
    status: Literal["active", "retired"]
    created_at: datetime


class SigningKeyList(Model):
    items: list[SigningKey]


class DashboardQuery(Model):
    model_config = ConfigDict(extra="forbid")
    days: int = Field(default=30, ge=1, le=90, description="How many UTC days, ending today, the series cover.")


class DashboardPeriod(Model):
    start: date
    end: date
    days: int


class DashboardDay(Model):
    date: date
    hires: int
    sessions: int
    credits_consumed: int
    input_tokens: int
    output_tokens: int
    earnings: int


class DashboardTotals(Model):
    hires: int = Field(description="Instances hired in the period.")
    active_instances: int = Field(description="Live instances now.")
    sessions: int = Field(description="Sessions started in the period.")
    credits_consumed: int = Field(description="Credits users spent on the agents' turns in the period.")
    input_tokens: int
    output_tokens: int
    earnings: int = Field(description="Credits earned in the period.")
    earnings_pending: int = Field(description="Earned credits not paid out yet (all time).")
    earnings_paid: int = Field(description="Earned credits in paid payouts (all time).")


class DashboardAgent(DashboardTotals):
    agent_id: UUID
    slug: str
    name: str
    status: str
    daily: list[DashboardDay]


class Dashboard(Model):
    """A creator's numbers, computed in SQL (named query `platform_dashboard`)."""
    period: DashboardPeriod
    totals: DashboardTotals
    daily: list[DashboardDay]
    agents: list[DashboardAgent]
