"""`GET /api/agents/{slug}/agent-card.json`: a published listing as an A2A agent card.

The card uses the A2A AgentCard fields: `name`, `description`, `url`, `version`, `capabilities`,
`defaultInputModes`, `defaultOutputModes`, `skills` (`id`, `name`, `description`, `tags`) and
`provider` (`organization`, `url`). `url` is the platform's chat endpoint: an agent on OpenAgents is
reached through `POST /api/chat/stream` with the caller's own instance of it (hire first, with a
Supabase access token as the bearer), and it streams (`text/event-stream`), hence `streaming: true`.

Skills come from the current published version (names and descriptions only). A listing without
skills yet is described as one skill: the agent itself, with its tags.
"""

from typing import Any

from pydantic import ConfigDict, Field

from shared.auth import User
from shared.data import acting_as
from shared.models import Model
from shared.problems import not_found

UNVERSIONED = "0.0.0"
TEXT = "text/plain"


class _Card(Model):
    model_config = ConfigDict(populate_by_name=True)


class AgentCapabilities(_Card):
    streaming: bool
    push_notifications: bool = Field(alias="pushNotifications")


class AgentProvider(_Card):
    organization: str
    url: str


class AgentSkill(_Card):
    id: str
    name: str
    description: str
    tags: list[str]


class AgentCard(_Card):
    name: str
    description: str
    url: str = Field(description="The platform's chat endpoint (POST, bearer token, your instance of this agent).")
    version: str
    documentation_url: str = Field(alias="documentationUrl")
    provider: AgentProvider
    capabilities: AgentCapabilities
    default_input_modes: list[str] = Field(alias="defaultInputModes")
    default_output_modes: list[str] = Field(alias="defaultOutputModes")
    skills: list[AgentSkill]


def _skills(row: dict[str, Any]) -> list[AgentSkill]:
    skills = row["skills"] or []
    if not skills:
        return [AgentSkill(id=row["slug"], name=row["name"], description=row["tagline"] or row["name"],
                           tags=row["tags"])]
    return [AgentSkill(id=s["name"], name=s["name"], description=s["description"] or s["name"], tags=row["tags"])
            for s in sorted(skills, key=lambda s: s["name"])]


def agent_card(user: User | None, slug: str) -> AgentCard:
    from shared.config import get_settings

    with acting_as(user) as tx:
        row = tx.one("agent_card", slug=slug)
    if row is None:
        raise not_found("agent")
    base = get_settings().public_url.rstrip("/")
    return AgentCard(
        name=row["name"],
        description=row["tagline"] or row["description"] or row["name"],
        url=f"{base}/api/chat/stream",
        version=row["version"] or UNVERSIONED,
        documentation_url=f"{base}/api/agents/{row['slug']}",
        provider=AgentProvider(organization=row["creator_name"] or "OpenAgents creator", url=base),
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=[TEXT],
        default_output_modes=[TEXT],
        skills=_skills(row),
    )
