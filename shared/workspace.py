"""The workspace: projects → teams → the user's instances in them, and the home page.

Everything is owner-only and runs as the signed-in user (RLS); another user's project, team or
instance is simply not found (404). A team holds only its owner's instances: the API checks the
instance is theirs, and the table's composite foreign keys make a mixed team impossible anyway.
Deleting a project deletes its teams and their memberships, never an instance.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ConfigDict, Field

from shared.auth import User
from shared.billing.ledger import Balance, credits
from shared.data import Tx, acting_as
from shared.lifecycle.models import InstanceStatus, Notification, ProvisionStage
from shared.models import Model
from shared.pagination import Page, PageQuery, decode_cursor, page_of
from shared.problems import conflict, not_found

TEAMS_IN_PROJECT = 100  # teams shown on a project's page (GET …/teams pages through all of them)


# --- shapes -----------------------------------------------------------------------------------------

class ProjectInput(Model):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)


class ProjectPatch(Model):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)


class TeamInput(Model):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)


class Project(Model):
    id: UUID
    name: str
    description: str
    teams_count: int
    created_at: datetime
    updated_at: datetime


class TeamInstance(Model):
    id: UUID
    agent_id: UUID
    agent_slug: str | None
    agent_name: str | None
    display_name: str
    status: InstanceStatus
    added_at: datetime


class Team(Model):
    id: UUID
    project_id: UUID
    name: str
    instances: list[TeamInstance]
    created_at: datetime
    updated_at: datetime


class ProjectDetail(Project):
    teams: list[Team] = Field(description=f"Its first {TEAMS_IN_PROJECT} teams; GET …/teams pages through all.")


# --- projects ---------------------------------------------------------------------------------------

def _project(tx: Tx, project_id: str) -> Project:
    row = tx.one("project_view", id=project_id)
    if row is None:
        raise not_found("project")
    return Project.model_validate(row)


def list_projects(user: User, query: PageQuery) -> Page[Project]:
    after = decode_cursor(query.cursor, ("created_at", "id"))
    with acting_as(user) as tx:
        rows = tx.all("projects_page", user_id=user.id, after_created=after["created_at"] if after else None,
                      after_id=after["id"] if after else None, limit=query.limit + 1)
    return Page[Project](**page_of(rows, query.limit, ("created_at", "id"), Project))


def create_project(user: User, body: ProjectInput) -> Project:
    with acting_as(user) as tx:
        project_id = tx.scalar("project_create", user_id=user.id, project_name=body.name, description=body.description)
        return _project(tx, str(project_id))


def get_project(user: User, project_id: str) -> ProjectDetail:
    with acting_as(user) as tx:
        project = _project(tx, project_id)
        rows = tx.all("teams_page", project_id=project_id, team_id=None, after_created=None, after_id=None,
                      limit=TEAMS_IN_PROJECT)
    return ProjectDetail(**project.model_dump(), teams=[Team.model_validate(r) for r in rows])


def update_project(user: User, project_id: str, body: ProjectPatch) -> Project:
    with acting_as(user) as tx:
        if tx.scalar("project_update", id=project_id, project_name=body.name, description=body.description) is None:
            raise not_found("project")
        return _project(tx, project_id)


def delete_project(user: User, project_id: str) -> None:
    with acting_as(user) as tx:
        if tx.scalar("project_delete", id=project_id) is None:
            raise not_found("project")


# --- teams ------------------------------------------------------------------------------------------

def _team(tx: Tx, team_id: str) -> Team:
    row = tx.one("teams_page", project_id=None, team_id=team_id, after_created=None, after_id=None, limit=1)
    if row is None:
        raise not_found("team")
    return Team.model_validate(row)


def list_teams(user: User, project_id: str, query: PageQuery) -> Page[Team]:
    after = decode_cursor(query.cursor, ("created_at", "id"))
    with acting_as(user) as tx:
        _project(tx, project_id)
        rows = tx.all("teams_page", project_id=project_id, team_id=None,
                      after_created=after["created_at"] if after else None,
                      after_id=after["id"] if after else None, limit=query.limit + 1)
    return Page[Team](**page_of(rows, query.limit, ("created_at", "id"), Team))


def create_team(user: User, project_id: str, body: TeamInput) -> Team:
    with acting_as(user) as tx:
        _project(tx, project_id)  # someone else's project is not found, not a foreign-key error
        team_id = tx.scalar("team_create", project_id=project_id, user_id=user.id, team_name=body.name)
        return _team(tx, str(team_id))


def get_team(user: User, team_id: str) -> Team:
    with acting_as(user) as tx:
        return _team(tx, team_id)


def rename_team(user: User, team_id: str, body: TeamInput) -> Team:
    with acting_as(user) as tx:
        if tx.scalar("team_update", id=team_id, team_name=body.name) is None:
            raise not_found("team")
        return _team(tx, team_id)


def delete_team(user: User, team_id: str) -> None:
    with acting_as(user) as tx:
        if tx.scalar("team_delete", id=team_id) is None:
            raise not_found("team")


def _owned_instance(tx: Tx, user: User, instance_id: str) -> dict[str, Any]:
    row = tx.one("team_instance_owned", instance_id=instance_id, user_id=user.id)
    if row is None:
        raise not_found("instance")
    return row


def add_to_team(user: User, team_id: str, instance_id: str) -> Team:
    """Puts one of the user's instances in one of their teams (again: no change)."""
    with acting_as(user) as tx:
        _team(tx, team_id)
        if _owned_instance(tx, user, instance_id)["status"] == "destroyed":
            raise conflict("A destroyed instance cannot join a team.", code="instance-destroyed")
        tx.execute("team_instance_add", team_id=team_id, instance_id=instance_id, user_id=user.id)
        return _team(tx, team_id)


def remove_from_team(user: User, team_id: str, instance_id: str) -> None:
    """Takes an instance out of a team (not being in it is fine: DELETE is idempotent)."""
    with acting_as(user) as tx:
        _team(tx, team_id)
        _owned_instance(tx, user, instance_id)
        tx.execute("team_instance_remove", team_id=team_id, instance_id=instance_id)


# --- home -------------------------------------------------------------------------------------------

HOME_INSTANCES = 100
HOME_SESSIONS = 10
HOME_NOTIFICATIONS = 10


class HomeInstance(Model):
    id: UUID
    agent_id: UUID
    agent_slug: str | None
    agent_name: str | None
    display_name: str
    status: InstanceStatus
    provision_stage: ProvisionStage
    error_message: str | None
    last_active_at: datetime


class HomeAgents(Model):
    """Live instances by status (destroyed ones are left out), most recently active first."""

    counts: dict[str, int] = Field(description="How many instances are in each status (all of them).")
    provisioning: list[HomeInstance] = Field(default_factory=list)
    running: list[HomeInstance] = Field(default_factory=list)
    suspended: list[HomeInstance] = Field(default_factory=list)
    stopped: list[HomeInstance] = Field(default_factory=list)
    error: list[HomeInstance] = Field(default_factory=list)
    destroying: list[HomeInstance] = Field(default_factory=list)


class RecentSession(Model):
    id: UUID
    instance_id: UUID
    agent_slug: str | None
    agent_name: str | None
    title: str
    channel: str
    last_message_at: datetime


class HomeNotifications(Model):
    unread_count: int
    items: list[Notification] = Field(description=f"The {HOME_NOTIFICATIONS} newest unread ones.")


class Home(Model):
    agents: HomeAgents
    credits: Balance
    recent_sessions: list[RecentSession]
    notifications: HomeNotifications


def home(user: User) -> Home:
    with acting_as(user) as tx:
        row = tx.one("home_summary", user_id=user.id, instances_limit=HOME_INSTANCES, sessions_limit=HOME_SESSIONS,
                     notifications_limit=HOME_NOTIFICATIONS)
    assert row is not None
    by_status: dict[str, list[HomeInstance]] = {}
    for item in row["instances"]:
        instance = HomeInstance.model_validate(item)
        by_status.setdefault(instance.status, []).append(instance)
    # The balance is billing's to define (available = live + top-up − held), so it comes from there.
    balance = credits(user, PageQuery(limit=1)).balance
    return Home(
        agents=HomeAgents(counts=row["instance_counts"], **by_status),
        credits=balance,
        recent_sessions=[RecentSession.model_validate(s) for s in row["recent_sessions"]],
        notifications=HomeNotifications(unread_count=row["unread_notifications"],
                                        items=[Notification.model_validate(n) for n in row["notifications"]]),
    )
