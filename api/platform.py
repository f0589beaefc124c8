"""Platform routes: creators' drafts, new versions, submit / review / appeal, archive, the dashboard,
signing keys, payouts onboarding.

Bundle uploads (`POST /api/platform/agents`, `PUT /api/platform/agents/{slug}`, `POST
/api/platform/agents/{slug}/versions`) take the bundle as the raw request body: `application/json` (`{"bundle": {"files": …}}`), `application/zip` (.zip) or
`application/gzip` (.tar.gz). Multipart form uploads are not taken (415): one file per request, sent as
is, keeps the limits exact and the parsing in one place (shared/platform/bundle.py).
"""

from __future__ import annotations

from flask import request

from shared.billing import checkout
from shared.pagination import Page, PageQuery
from shared.platform import bundle
from shared.platform.models import (
    AppealBody,
    AppealResult,
    BundleUpload,
    Dashboard,
    DashboardQuery,
    Draft,
    DraftSummary,
    ReviewDecisionBody,
    ReviewItem,
    ReviewOutcome,
    ReviewQuery,
    SigningKeyList,
    SubmitResult,
)
from shared.web import RequestContext, Router, create_app
from shared.web.routes import Upload, read_body

router = Router("platform")
admin = Router("admin")

BUNDLE_UPLOAD = Upload(json=BundleUpload, media_types=("application/zip", "application/gzip"),
                       limit=bundle.MAX_UPLOAD_BYTES)
UPLOAD_ERRORS = (400, 403, 409, 413, 415, 422)
# The logic modules (drafts, publish, review, …) are imported by the handlers that use them: each
# request needs one or two of them, and a cold start should not pay for all of them.


def _upload() -> tuple[str, bytes]:
    return request.headers.get("Content-Type", ""), read_body(bundle.MAX_UPLOAD_BYTES)


@router.post("/api/platform/connect", response=checkout.ConnectLink, errors=(403, 404, 503))
def connect_payouts(ctx: RequestContext) -> checkout.ConnectLink:
    """Creators: start (or resume) Stripe Connect Express onboarding for payouts."""
    return checkout.start_connect_onboarding(ctx.user_id)


@router.post("/api/platform/agents", upload=BUNDLE_UPLOAD, max_body=bundle.MAX_UPLOAD_BYTES, response=Draft,
             status=201, errors=UPLOAD_ERRORS)
def create_agent(ctx: RequestContext) -> Draft:
    """Creators: a new agent from a bundle (JSON, .zip or .tar.gz); the slug is openagents.yaml's."""
    from shared.platform import drafts

    return drafts.create(ctx.user, *_upload())


@router.get("/api/platform/agents", query=PageQuery, response=Page[DraftSummary])
def list_my_agents(ctx: RequestContext, query: PageQuery) -> Page[DraftSummary]:
    """Your agents (drafts, in review, published …), newest first."""
    from shared.platform import drafts

    return drafts.list_mine(ctx.user, query)


@router.get("/api/platform/agents/{slug}", response=Draft, errors=(404,))
def get_my_agent(ctx: RequestContext, slug: str) -> Draft:
    """One of your agents with the version being worked on (else the published one)."""
    from shared.platform import drafts

    return drafts.get_mine(ctx.user, slug)


@router.put("/api/platform/agents/{slug}", upload=BUNDLE_UPLOAD, max_body=bundle.MAX_UPLOAD_BYTES, response=Draft,
            errors=(*UPLOAD_ERRORS, 404))
def replace_my_agent(ctx: RequestContext, slug: str) -> Draft:
    """Replace the bundle of a draft (or of a rejected version, which becomes a draft again)."""
    from shared.platform import drafts

    return drafts.replace(ctx.user, slug, *_upload())


@router.post("/api/platform/agents/{slug}/versions", upload=BUNDLE_UPLOAD, max_body=bundle.MAX_UPLOAD_BYTES,
             response=Draft, status=201, errors=(*UPLOAD_ERRORS, 404))
def add_version(ctx: RequestContext, slug: str) -> Draft:
    """A new version of your published agent from a bundle (a draft: submit it to publish and roll it out)."""
    from shared.platform import versions

    return versions.add_version(ctx.user, slug, *_upload())


@router.post("/api/platform/agents/{slug}/archive", response=Draft, errors=(403, 404, 409))
def archive_agent(ctx: RequestContext, slug: str) -> Draft:
    """Take your published agent out of discovery; its instances keep working."""
    from shared.platform import versions

    return versions.archive(ctx.user, slug)


@router.get("/api/platform/dashboard", query=DashboardQuery, response=Dashboard, errors=(403,))
def creator_dashboard(ctx: RequestContext, query: DashboardQuery) -> Dashboard:
    """Your agents' hires, instances, sessions, credits spent and earnings, per agent and per day."""
    from shared.platform import dashboard

    return dashboard.dashboard(ctx.user, query)


@router.post("/api/platform/agents/{slug}/submit", response=SubmitResult, errors=(403, 404, 409, 503))
def submit_agent(ctx: RequestContext, slug: str) -> SubmitResult:
    """Scan the draft: clean → signed and published; flagged → review (or rejected, for secrets)."""
    from shared.platform import publish

    return publish.submit(ctx.user, slug)


@router.post("/api/platform/agents/{slug}/appeal", body=AppealBody, response=AppealResult, status=201,
             errors=(404, 409))
def appeal_decision(ctx: RequestContext, slug: str, body: AppealBody) -> AppealResult:
    """Appeal the latest decision on your version (once per decision)."""
    from shared.platform import review

    return review.appeal(ctx.user, slug, body)


@router.get("/api/platform/signing-keys", auth="none", response=SigningKeyList)
def list_signing_keys(ctx: RequestContext) -> SigningKeyList:
    """The skill-signing public keys (active and retired), to verify any skill's signature (§5c)."""
    from shared.platform import signing

    return signing.list_keys()


@admin.get("/api/admin/reviews", query=ReviewQuery, response=Page[ReviewItem], errors=(403,))
def list_reviews(ctx: RequestContext, query: ReviewQuery) -> Page[ReviewItem]:
    """Admins: versions waiting for review, oldest first, with their findings."""
    from shared.platform import review

    return review.queue(ctx.user, query)


@admin.post("/api/admin/reviews/{version_id:uuid}", body=ReviewDecisionBody, response=ReviewOutcome,
            errors=(403, 404, 409, 503))
def decide_review(ctx: RequestContext, version_id: str, body: ReviewDecisionBody) -> ReviewOutcome:
    """Admins: approve (sign and publish) or reject (with a reason) a version under review."""
    from shared.platform import review

    return review.decide(ctx.user, version_id, body)


app = create_app(__name__, [router, admin])
