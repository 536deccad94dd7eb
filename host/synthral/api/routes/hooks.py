"""Webhook subscriptions of workflows, and the Standard Webhooks ingress route."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel

from synthral.api.access import Editor
from synthral.api.auditing import audit
from synthral.api.routes.connectors import DeliveryAccepted
from synthral.api.state import ServerState, server_of

__all__ = ["router"]

router = APIRouter(tags=["webhooks"])
Server = Annotated[ServerState, Depends(server_of)]


class SubscriptionInfo(BaseModel):
    """Where to deliver and the secret to sign with (shown this once; the previous one stays valid)."""

    workflow_id: str
    url: str
    secret: str
    scheme: str


@router.post("/workflows/{workflow_id}/webhook", status_code=status.HTTP_201_CREATED, response_model=SubscriptionInfo)
async def subscribe(workflow_id: str, request: Request, access: Editor, server: Server) -> SubscriptionInfo:
    """Create or rotate a workflow's webhook signing secret."""
    subscription = await server.webhooks.subscribe(access.workspace_id, workflow_id)
    await audit(request, access, "webhook.secret_rotate", target_type="workflow", target_id=workflow_id)
    return SubscriptionInfo(
        workflow_id=subscription.workflow_id,
        url=server.public_url + subscription.path,
        secret=subscription.secret,
        scheme=subscription.scheme,
    )


@router.post("/hooks/{workflow_id}", status_code=status.HTTP_202_ACCEPTED, response_model=DeliveryAccepted)
async def deliver(workflow_id: str, request: Request, server: Server) -> DeliveryAccepted:
    """Standard Webhooks ingress: verified on the raw body, stored once, answered before the run."""
    headers = {key.lower(): value for key, value in request.headers.items()}
    delivery = await server.webhooks.receive(workflow_id, headers, await request.body())
    return DeliveryAccepted(execution_id=delivery.execution_id, duplicate=delivery.duplicate)
