"""The floor and the yardstick for `overhead.py`: the same layered plan of model calls run by plain
asyncio (no durability at all) and by the smallest hand-written temporalio workflow that does it
(what Temporal itself costs, with none of AIOS's bookkeeping).

    python bench/minimal_workflow.py --temporal HOST:PORT --model-url URL --task-queue Q

runs the minimal workflow's worker (SDK defaults, its own process, as the AIOS worker has).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

with workflow.unsafe.imports_passed_through():
    from openai import AsyncOpenAI

MODEL = "bench-model"


@dataclass
class LayeredPlan:
    """Model calls in layers: every call of a layer runs at once, each layer after the last."""

    layers: list[int]
    instruction: str


def layers(steps: int, width: int) -> list[int]:
    """`steps` calls at most `width` at once: one first call, full layers, then the rest
    (10 steps 3-wide: 1, 3, 3, 3)."""
    shape = [1]
    left = steps - 1
    while left > 0:
        shape.append(min(width, left))
        left -= shape[-1]
    return shape


async def call_model(model: AsyncOpenAI, instruction: str) -> str:
    """One streamed chat completion, read to the end (what an AIOS llm step asks for)."""
    stream = await model.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": instruction}],
        max_tokens=64,
        stream=True,
        stream_options={"include_usage": True},
    )
    text = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
    return "".join(text)


async def run_plain(model: AsyncOpenAI, plan: LayeredPlan) -> list[str]:
    outputs: list[str] = []
    for width in plan.layers:
        outputs = list(
            await asyncio.gather(*(call_model(model, plan.instruction) for _ in range(width)))
        )
    return outputs


_model: AsyncOpenAI | None = None


@activity.defn(name="bench_call_model")
async def call_model_activity(instruction: str) -> str:
    assert _model is not None
    return await call_model(_model, instruction)


@workflow.defn(name="BenchMinimalPlan")
class MinimalPlanWorkflow:
    @workflow.run
    async def run(self, plan: LayeredPlan) -> list[str]:
        outputs: list[str] = []
        for width in plan.layers:
            outputs = list(
                await asyncio.gather(
                    *(
                        workflow.execute_activity(
                            call_model_activity,
                            plan.instruction,
                            start_to_close_timeout=timedelta(seconds=60),
                        )
                        for _ in range(width)
                    )
                )
            )
        return outputs


async def serve(temporal: str, model_url: str, task_queue: str, sandboxed: bool = True) -> None:
    global _model
    _model = AsyncOpenAI(base_url=model_url, api_key="sk-scripted", max_retries=0)
    client = await Client.connect(temporal)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[MinimalPlanWorkflow],
        activities=[call_model_activity],
        workflow_runner=SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner(),
    )
    print("minimal worker polling", flush=True)
    await worker.run()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--temporal", required=True)
    parser.add_argument("--model-url", required=True)
    parser.add_argument("--task-queue", default=f"bench-minimal-{os.getpid()}")
    parser.add_argument(
        "--unsandboxed", action="store_true", help="run the workflow outside the sandbox"
    )
    args = parser.parse_args()
    # Imported by name, not run as __main__: the workflow sandbox re-imports the workflow's module.
    from bench import minimal_workflow

    asyncio.run(
        minimal_workflow.serve(
            args.temporal, args.model_url, args.task_queue, sandboxed=not args.unsandboxed
        )
    )
