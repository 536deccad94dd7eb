"""The chat copilot: four modes over AG-UI that build, run and explain automations.

The API (``POST /api/v1/chat``, the ``/api/agws`` WebSocket) hands each request to
:class:`CopilotService`, which runs one AG-UI run of one conversation: the ``automation``
and ``code`` modes as a tools-only LangGraph flow over the copilot's LLM, the ``agent`` and
``agent_flow`` modes as an agent task on an installed framework. Whatever acts (saving,
running, scheduling, running code) is only proposed; the user confirms it with a request of
their own.
"""

from __future__ import annotations

from synthral.services.copilot.catalog import Catalog
from synthral.services.copilot.events import RunStream, encode
from synthral.services.copilot.record import Record
from synthral.services.copilot.requests import ChatInput, parse_chat
from synthral.services.copilot.service import CopilotService
from synthral.services.copilot.settings import AgentDefaults, CopilotSettings
from synthral.services.copilot.turn import MODES, Actor, Services

__all__ = [
    "MODES",
    "Actor",
    "AgentDefaults",
    "Catalog",
    "ChatInput",
    "CopilotService",
    "CopilotSettings",
    "Record",
    "RunStream",
    "Services",
    "encode",
    "parse_chat",
]
