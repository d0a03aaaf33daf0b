"""The client's calls on what a run can use: skills (list, start), tools (list, invoke) and the
versions of prompts and skills a run can pin."""

from __future__ import annotations

from typing import Any

from aios.client.base import ApiBase, _wire
from aios.versions import VersionList
from aios.wire import Invoked, RunCreated, SkillList, StartSkill, ToolList


class CatalogApi(ApiBase):
    """Skills, tools and versions."""

    async def skills(self) -> SkillList:
        return SkillList.model_validate(await self.request("GET", "/v1/skills"))

    async def start_skill(self, name: str, body: StartSkill | dict[str, Any]) -> RunCreated:
        created = await self.request("POST", f"/v1/skills/{name}/runs", json=_wire(body))
        return RunCreated.model_validate(created)

    async def tools(self) -> ToolList:
        return ToolList.model_validate(await self.request("GET", "/v1/tools"))

    async def invoke_tool(self, name: str, args: dict[str, Any]) -> Invoked:
        invoked = await self.request("POST", f"/v1/tools/{name}/invoke", json={"args": args})
        return Invoked.model_validate(invoked)

    async def versions(self, kind: str | None = None) -> VersionList:
        """The versions of prompts and skills a run can pin."""
        params = {"kind": kind} if kind else {}
        return VersionList.model_validate(await self.request("GET", "/v1/versions", params=params))
