"""Agent tasks started through the API: each is a durable run of a one-node system workflow.

``POST /agents/run`` does not run the agent in the request: it queues a run of the
workspace's ``agents.run`` workflow (one ``agent/run`` node whose input carries the task
and its whole config), so an agent task started by API is as durable as any step: claimed
by a worker, resumed after a crash without repeating its tool calls, cancellable, visible
in the execution view with its live events.
"""

from __future__ import annotations

import uuid
from typing import Final

from synthral.engine.model import Workflow
from synthral.services.agent_models import AgentConfig, AgentInput
from synthral.services.agents import AgentService, task_id_for
from synthral.services.workflows import WorkflowService
from synthral_sdk.types import JSONObject

__all__ = ["SYSTEM_WORKFLOW", "start_agent_task"]

SYSTEM_WORKFLOW: Final = "agents.run"
_NODE: Final = "agent"


def _system_workflow() -> Workflow:
    return Workflow.model_validate(
        {
            "name": SYSTEM_WORKFLOW,
            "description": "Agent tasks started through the agents API (one agent/run step per task).",
            "nodes": [
                {
                    "id": _NODE,
                    "type": "agent/run",
                    "config": {"llm": {"model": "given-per-task"}},
                    "input": {
                        "task": "{{ trigger.task }}",
                        "inputs": "{{ trigger.inputs }}",
                        "spec": "{{ trigger.spec }}",
                    },
                    "retry": {"max_attempts": 3},
                }
            ],
        }
    )


async def start_agent_task(
    agents: AgentService,
    workflows: WorkflowService,
    *,
    workspace_id: str,
    owner_id: str | None,
    config: AgentConfig,
    task: AgentInput,
) -> JSONObject:
    """Queue an agent task; return its id, its run's id and the router's decision.

    Raises:
        ConfigurationError: No framework fits, or the override is not installed (nothing is queued).
        BlobNotFound: The inputs name a blob the workspace was not given (nothing is queued).
    """
    agents.evaluate(config)  # refuse before anything is stored
    payload = {"task": task.task, "inputs": task.inputs, "spec": config.model_dump(mode="json")}
    await workflows.grants.check(workspace_id, payload)
    saved = await workflows.save(_system_workflow(), workspace_id=workspace_id, owner_id=owner_id)
    execution_id = str(uuid.uuid4())
    key = f"{execution_id}/{_NODE}/0"
    task_id = task_id_for(key)
    decision = await agents.create_queued(
        task_id, key=key, execution_id=execution_id, workspace_id=workspace_id, config=config, task=task
    )
    await workflows.start(
        saved.workflow_id, payload, trigger="agent", execution_id=execution_id, workspace_id=workspace_id
    )
    return {"task_id": task_id, "execution_id": execution_id, "status": "queued", "routing": decision.wire()}
