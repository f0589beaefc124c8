"""Workspace routes: home, projects, teams and their instances, notifications."""

from __future__ import annotations

from flask import Response

from shared import workspace
from shared.lifecycle.models import Notification, NotificationQuery
from shared.lifecycle.notifications import list_notifications
from shared.pagination import Page, PageQuery
from shared.web import RequestContext, Router, create_app

router = Router("workspace")


def _no_content() -> Response:
    return Response(status=204)


@router.get("/api/home", response=workspace.Home)
def home(ctx: RequestContext) -> workspace.Home:
    """Your agents by status, credits, recent sessions and unread notifications."""
    return workspace.home(ctx.user)


@router.get("/api/projects", query=PageQuery, response=Page[workspace.Project], errors=(400,))
def list_projects(ctx: RequestContext, query: PageQuery) -> Page[workspace.Project]:
    """Your projects, newest first."""
    return workspace.list_projects(ctx.user, query)


@router.post("/api/projects", body=workspace.ProjectInput, response=workspace.Project, status=201)
def create_project(ctx: RequestContext, body: workspace.ProjectInput) -> workspace.Project:
    """Create a project."""
    return workspace.create_project(ctx.user, body)


@router.get("/api/projects/{project_id:uuid}", response=workspace.ProjectDetail, errors=(404,))
def get_project(ctx: RequestContext, project_id: str) -> workspace.ProjectDetail:
    """One of your projects with its teams."""
    return workspace.get_project(ctx.user, project_id)


@router.patch("/api/projects/{project_id:uuid}", body=workspace.ProjectPatch, response=workspace.Project,
              errors=(404,))
def update_project(ctx: RequestContext, project_id: str, body: workspace.ProjectPatch) -> workspace.Project:
    """Rename a project or change its description."""
    return workspace.update_project(ctx.user, project_id, body)


@router.delete("/api/projects/{project_id:uuid}", status=204, errors=(404,))
def delete_project(ctx: RequestContext, project_id: str) -> Response:
    """Delete a project and its teams (the instances in them are kept)."""
    workspace.delete_project(ctx.user, project_id)
    return _no_content()


@router.get("/api/projects/{project_id:uuid}/teams", query=PageQuery, response=Page[workspace.Team],
            errors=(400, 404))
def list_teams(ctx: RequestContext, project_id: str, query: PageQuery) -> Page[workspace.Team]:
    """A project's teams with their instances, oldest first."""
    return workspace.list_teams(ctx.user, project_id, query)


@router.post("/api/projects/{project_id:uuid}/teams", body=workspace.TeamInput, response=workspace.Team,
             status=201, errors=(404,))
def create_team(ctx: RequestContext, project_id: str, body: workspace.TeamInput) -> workspace.Team:
    """Create a team in a project."""
    return workspace.create_team(ctx.user, project_id, body)


@router.get("/api/teams/{team_id:uuid}", response=workspace.Team, errors=(404,))
def get_team(ctx: RequestContext, team_id: str) -> workspace.Team:
    """One of your teams with its instances."""
    return workspace.get_team(ctx.user, team_id)


@router.patch("/api/teams/{team_id:uuid}", body=workspace.TeamInput, response=workspace.Team, errors=(404,))
def rename_team(ctx: RequestContext, team_id: str, body: workspace.TeamInput) -> workspace.Team:
    """Rename a team."""
    return workspace.rename_team(ctx.user, team_id, body)


@router.delete("/api/teams/{team_id:uuid}", status=204, errors=(404,))
def delete_team(ctx: RequestContext, team_id: str) -> Response:
    """Delete a team (its instances are kept)."""
    workspace.delete_team(ctx.user, team_id)
    return _no_content()


@router.put("/api/teams/{team_id:uuid}/instances/{instance_id:uuid}", response=workspace.Team, errors=(404, 409))
def add_to_team(ctx: RequestContext, team_id: str, instance_id: str) -> workspace.Team:
    """Put one of your instances in a team (no change if it is already there)."""
    return workspace.add_to_team(ctx.user, team_id, instance_id)


@router.delete("/api/teams/{team_id:uuid}/instances/{instance_id:uuid}", status=204, errors=(404,))
def remove_from_team(ctx: RequestContext, team_id: str, instance_id: str) -> Response:
    """Take an instance out of a team (the instance itself is kept)."""
    workspace.remove_from_team(ctx.user, team_id, instance_id)
    return _no_content()


@router.get("/api/notifications", query=NotificationQuery, response=Page[Notification])
def notifications(ctx: RequestContext, query: NotificationQuery) -> Page[Notification]:
    """Your notifications, newest first."""
    return list_notifications(ctx.user, query)


app = create_app(__name__, [router])
