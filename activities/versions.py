"""Resolving a run's versions of prompts and skills (aios/versions.py) against what is stored.

Both the API (before a run starts: its pins, and the skill it names or the rule planner picks)
and the planning activity (at each run's start: a scheduled run, whose input was written when
the schedule was; a skill's child run; a skill the hybrid planner fell back to) resolve here, so
a skill's `versions:` pins hold whoever picks the skill. The code's current prompts and skills
are kept in PostgreSQL the first time a process resolves anything.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import asyncpg
import yaml

from aios.errors import NotFound, ValidationFailed
from aios.prompts import AGENT_SYSTEM, DEFAULT_SYSTEM, PLANNER_SYSTEM
from aios.skills import Skill, SkillCatalog, SkillSpec
from aios.stores.versions import VersionStore
from aios.versions import (
    MODEL_PIN,
    PIN_NAMES,
    PROMPTS,
    SKILL_PIN,
    RunVersions,
    content_hash,
    resolve,
)
from aios.vocabulary import Provider

MODEL_TIERS = ("fast", "strong")


def current_prompts() -> dict[str, str]:
    """The prompt texts of the code this process runs."""
    return {"system": DEFAULT_SYSTEM, "planner": PLANNER_SYSTEM, "agent": AGENT_SYSTEM}


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
class VersionResolver:
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
        await self._skill_pins_into(tenant, versions, skill, own)
        await self._resolve_pins(tenant, versions, pins)
        versions.pinned = sorted({*own, *pins})
        versions.requested = sorted(pins)
        return versions, catalog

    async def for_skill(
        self, tenant: str, versions: RunVersions | None, skill: str | None
    ) -> RunVersions:
        """`versions` (None: the latest of everything, as for a run that pinned nothing) for a
        run whose skill is `skill`, picked after the pins were resolved (the rule planner by its
        triggers, the hybrid planner's fallback, a skill step's child run): the skill's own pins
        hold where the run's request pinned nothing (`requested`), over any other skill's; its
        name and hash are recorded. ValidationFailed when the skill pins what cannot resolve."""
        await self.ensure()
        if skill is None:
            return versions or RunVersions(
                prompts={name: self._latest[("prompt", name)] for name in PROMPTS}
            )
        if versions is None:
            result = RunVersions(prompts={name: self._latest[("prompt", name)] for name in PROMPTS})
        else:
            result = versions.model_copy(deep=True)
        if result.skill != skill:
            result.skill = skill
            result.skill_hash = self._latest.get(("skill", skill))
        pins = _skill_pins(self.skills, skill)
        own = {k: v for k, v in pins.items() if k not in result.requested}
        await self._skill_pins_into(tenant, result, skill, own)
        result.pinned = sorted({*result.pinned, *own})
        return result

    async def _skill_pins_into(
        self, tenant: str, versions: RunVersions, skill: str | None, pins: dict[str, str]
    ) -> None:
        try:
            await self._resolve_pins(tenant, versions, pins)
        except ValidationFailed as e:
            raise ValidationFailed(
                f"skill {skill!r} pins a version this deployment cannot resolve: {e.message}"
            ) from None

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
