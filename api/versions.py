"""Versions as the API sees them: the code's current prompts and skills (kept in PostgreSQL the
first time this process sees them), listing, registering a candidate prompt, and resolving a
run's pins into `RunVersions` before it starts (an unknown version is a 422 then, never a failed
run later)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import asyncpg
import yaml

from aios.errors import Conflict, NotFound, ValidationFailed
from aios.skills import Skill, SkillCatalog, SkillSpec
from aios.stores.versions import VersionStore
from aios.versions import (
    MODEL_PIN,
    PIN_NAMES,
    PROMPTS,
    SKILL_PIN,
    RunVersions,
    VersionInfo,
    content_hash,
    resolve,
)
from aios.vocabulary import Provider

MODEL_TIERS = ("fast", "strong")


def current_prompts() -> dict[str, str]:
    """The prompt texts of the code this process runs."""
    # Imported here: the activities' modules are heavy and the API needs them only for this.
    from activities import context
    from activities.llm.activities import AGENT_SYSTEM
    from activities.planning import PLANNER_SYSTEM

    return {"system": context.DEFAULT_SYSTEM, "planner": PLANNER_SYSTEM, "agent": AGENT_SYSTEM}


def skill_text(skill: Skill) -> str:
    """A skill's versioned text: its file as written, else its spec as JSON."""
    if skill.source is not None and skill.source.exists():
        return skill.source.read_text()
    return json.dumps(skill.spec.model_dump(mode="json"), sort_keys=True)


def check_model(ref: str) -> str:
    """A model pin: a tier or `provider:model` of a known provider."""
    value = ref.strip()
    if value in MODEL_TIERS:
        return value
    provider, _, model = value.partition(":")
    if model and provider in {p.value for p in Provider}:
        return value
    raise ValidationFailed(
        f"versions.model: {ref!r} is not fast, strong or provider:model "
        f"(providers: {', '.join(p.value for p in Provider)})"
    )


def _skill_pins(catalog: SkillCatalog, skill: str | None) -> dict[str, str]:
    """The pins a skill's YAML declares (none for no skill, or one the planner will refuse)."""
    if skill is None:
        return {}
    try:
        return dict(catalog.get(skill).spec.versions or {})
    except NotFound:
        return {}


@dataclass
class VersionService:
    pool: asyncpg.Pool
    skills: SkillCatalog
    _latest: dict[tuple[str, str], str] = field(default_factory=dict)
    _ready: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def store(self) -> VersionStore:
        return VersionStore(self.pool)

    async def ensure(self) -> None:
        """Keep the code's current versions (once per process)."""
        if self._latest:
            return
        async with self._ready:
            if self._latest:
                return
            latest: dict[tuple[str, str], str] = {}
            for name, text in current_prompts().items():
                digest = content_hash(text)
                await self.store.register("prompt", name, text, digest)
                latest[("prompt", name)] = digest
            for skill in self.skills.all():
                text = skill_text(skill)
                digest = content_hash(text)
                await self.store.register(
                    "skill", skill.name, text, digest, label=f"v{skill.spec.version}"
                )
                latest[("skill", skill.name)] = digest
            self._latest = latest

    def _latest_pairs(self) -> set[tuple[str, str]]:
        return {(name, digest) for (_, name), digest in self._latest.items()}

    async def list(self, tenant: str, kind: str | None = None) -> list[VersionInfo]:
        await self.ensure()
        return await self.store.list(tenant, self._latest_pairs(), kind=kind)

    async def register_prompt(
        self, tenant: str, name: str, label: str, text: str, created_by: str
    ) -> VersionInfo:
        """A candidate text for prompt `name` under `label`, for this tenant's runs to pin."""
        if name not in PROMPTS:
            raise ValidationFailed(
                f"unknown prompt {name!r}; prompts: {', '.join(sorted(PROMPTS))}"
            )
        await self.ensure()
        digest = content_hash(text)
        kept, new = await self.store.register(
            "prompt", name, text, digest, tenant=tenant, label=label, created_by=created_by
        )
        if not new and kept != label:  # the text exists already, under another label
            raise Conflict(f"this {name} prompt is already version {kept!r}")
        known = await self.store.list(tenant, self._latest_pairs(), kind="prompt")
        return next(v for v in known if v.name == name and v.hash == digest)

    async def resolve(
        self, tenant: str, pins: dict[str, str] | None, skill: str | None
    ) -> tuple[RunVersions, SkillCatalog]:
        """The run's versions (every prompt's hash, pinned or latest; its skill's; its model),
        and the skill catalogue its plan is made from (a pinned skill's stored YAML in place of
        the current one). Raises ValidationFailed (422) for an unknown name or version."""
        await self.ensure()
        pins = dict(pins or {})
        unknown = sorted(set(pins) - set(PIN_NAMES))
        if unknown:
            raise ValidationFailed(
                f"versions: unknown name(s) {', '.join(unknown)}; pin one of {', '.join(PIN_NAMES)}"
            )
        versions = RunVersions(prompts={name: self._latest[("prompt", name)] for name in PROMPTS})
        catalog = self.skills
        if skill is not None and ("skill", skill) in self._latest:  # else the planner says
            versions.skill = skill
            versions.skill_hash = self._latest.get(("skill", skill))
        if SKILL_PIN in pins:
            if skill is None:
                raise ValidationFailed("versions.skill pins the run's skill: name one in `skill`")
            known = await self.store.list(tenant, self._latest_pairs(), kind="skill")
            chosen = resolve(SKILL_PIN, pins[SKILL_PIN], [v for v in known if v.name == skill])
            versions.skill_hash = chosen.hash
            if not chosen.latest:
                catalog = await self._catalog_with(tenant, skill, chosen.hash)
        # The skill's own pins (its YAML's `versions:`, of the version the run uses) hold where
        # the run pins nothing of its own.
        own = _skill_pins(catalog, skill)
        try:
            await self._resolve_pins(tenant, versions, own)
        except ValidationFailed as e:
            raise ValidationFailed(
                f"skill {skill!r} pins a version this deployment cannot resolve: {e.message}"
            ) from None
        await self._resolve_pins(tenant, versions, pins)
        versions.pinned = sorted({*own, *pins})
        return versions, catalog

    async def _resolve_pins(self, tenant: str, versions: RunVersions, pins: dict[str, str]) -> None:
        """The model and prompt versions `pins` name, into `versions` (ValidationFailed: 422 for
        an unknown one)."""
        if MODEL_PIN in pins:
            versions.model = check_model(pins[MODEL_PIN])
        prompt_pins = {k: v for k, v in pins.items() if k in PROMPTS}
        if prompt_pins:
            known = await self.store.list(tenant, self._latest_pairs(), kind="prompt")
            for name, ref in prompt_pins.items():
                versions.prompts[name] = resolve(
                    name, ref, [v for v in known if v.name == name]
                ).hash

    async def _catalog_with(self, tenant: str, name: str, digest: str) -> SkillCatalog:
        """The skill catalogue with skill `name` as its stored version `digest`."""
        text = await self.store.text(tenant, "skill", name, digest)
        if text is None:
            raise ValidationFailed(f"versions.skill: version {digest[:12]} of {name!r} is gone")
        try:
            pinned = Skill(SkillSpec.model_validate(yaml.safe_load(text)))
            pinned.validate()
        except Exception as e:  # an old file this code can no longer read
            raise ValidationFailed(
                f"versions.skill: version {digest[:12]} of {name!r} cannot run on this "
                f"deployment: {e}"
            ) from None
        return SkillCatalog([pinned if s.name == name else s for s in self.skills.all()])
