"""The creator dashboard (`GET /api/platform/dashboard`): hires, live instances, sessions, credits users
spent, tokens and earnings (pending and paid), per agent and per UTC day of the last `days` days.

Everything is computed by one named query (`platform_dashboard`, shared/data/queries/platform.sql) as
the service role for exactly the signed-in creator's agents: the numbers cover other users' instances,
sessions and ledger entries, which the creator may count but not read. Creators and admins only (403).
"""

from __future__ import annotations

from shared.auth import User
from shared.data import get_db
from shared.platform import drafts
from shared.platform.models import Dashboard, DashboardQuery


def dashboard(user: User, query: DashboardQuery) -> Dashboard:
    with get_db().service() as tx:
        drafts.require_creator(tx, user.id)
        data = tx.scalar("platform_dashboard", creator_id=user.id, days=query.days)
    return Dashboard.model_validate(data)
