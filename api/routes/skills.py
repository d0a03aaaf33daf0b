"""Skills: the catalogue, and starting a skill as a run (`POST /v1/skills/{name}/runs` is
`POST /v1/runs` with the skill named, the rule planner, and the goal taken from the inputs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from aios.wire import RunCreated, SkillList, StartSkill
from api.deps import PrincipalDep, SkillsDep
from api.examples import example
from api.run_service import RunsDep

router = APIRouter(prefix="/v1/skills", tags=["skills"])


@router.get(
    "",
    response_model=SkillList,
    responses=example(
        {
            "skills": [
                {
                    "name": "research_report",
                    "version": 2,
                    "description": "Retrieve sources, extract key points, write a cited report.",
                    "input_schema": {
                        "type": "object",
                        "properties": {"topic": {"type": "string"}},
                        "required": ["topic"],
                    },
                    "triggers": ["report on", "research"],
                }
            ]
        }
    ),
)
async def list_skills(principal: PrincipalDep, skills: SkillsDep) -> SkillList:
    """Every skill: name, version, description, input schema, and the triggers by which the
    rule planner picks it for a goal (`web_triggers`: only for a tenant with a web search
    provider)."""
    return SkillList(skills=[s.info() for s in skills.all()])


@router.post("/{name}/runs", status_code=202, response_model=RunCreated)
async def start_skill(
    name: str,
    body: StartSkill,
    request: Request,
    response: Response,
    principal: PrincipalDep,
    runs: RunsDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> RunCreated:
    """Run a skill with `inputs` (checked against its schema: 422 naming the field)."""
    created = await runs.start_skill(
        principal, name, body, base_url=str(request.base_url), idempotency_key=idempotency_key
    )
    response.headers["Location"] = created.links.self
    return created
