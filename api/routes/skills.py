"""Skills: the catalogue, and starting a skill as a run (`POST /v1/skills/{name}/runs` is
`POST /v1/runs` with the skill named, the rule planner, and the goal taken from the inputs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from aios.skills import SkillInfo
from aios.vocabulary import PlannerName
from api.deps import PrincipalDep, RegistryDep, SettingsDep, SkillsDep, TemporalDep
from api.examples import example
from api.routes.runs import CreateRun, RunCreated, create_run
from api.temporal_reads import SAFE_VALUE

router = APIRouter(prefix="/v1/skills", tags=["skills"])


class SkillList(BaseModel):
    skills: list[SkillInfo]


class StartSkill(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"inputs": {"topic": "How do approvals work?"}}]},
    )

    inputs: dict[str, Any] = Field(default_factory=dict)
    goal: str | None = Field(default=None, description="default: from the skill's inputs")
    user_id: str | None = Field(default=None, max_length=200, pattern=SAFE_VALUE.pattern)
    session_id: str | None = Field(default=None, max_length=200, pattern=SAFE_VALUE.pattern)
    budget_usd: float | None = Field(default=None, gt=0)


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
    rule planner picks it for a goal."""
    return SkillList(skills=[s.info() for s in skills.all()])


@router.post("/{name}/runs", status_code=202, response_model=RunCreated)
async def start_skill(
    name: str,
    body: StartSkill,
    request: Request,
    response: Response,
    principal: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    registry: RegistryDep,
    skills: SkillsDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> RunCreated:
    """Run a skill with `inputs` (checked against its schema: 422 naming the field)."""
    skill = skills.get(name)
    goal = body.goal or skill.goal_for(skill.complete_inputs(body.inputs))
    run = CreateRun(
        goal=goal,
        skill=name,
        inputs=body.inputs,
        planner=PlannerName.RULE,
        user_id=body.user_id,
        session_id=body.session_id,
        budget_usd=body.budget_usd,
    )
    return await create_run(
        run, request, response, principal, temporal, settings, registry, skills, idempotency_key
    )
