"""The third upstream call's answer, ``POST /v1/realtime/calls``, checked before a browser
sees it: ``{"conversation_id", "answer": {"sdp", "type": "answer"}}``, nothing else kept.

The same strict JSON reading as the other two calls (:mod:`.replies`); every failure is
:class:`~orga_asgi.UpstreamInvalidResponse`.
"""

from __future__ import annotations

from typing import Any

from orga_asgi._errors import UpstreamInvalidResponse

from .replies import strict_object

__all__ = ["CALLS", "parse_call_answer"]

CALLS = "calls"
"""The call's name in attempts and error details."""
_MAX_ID = 256


def parse_call_answer(body: bytes) -> dict[str, Any]:
    """The answer of ``calls``, reduced to what the browser SDK reads.

    Raises:
        UpstreamInvalidResponse: not that shape (an SDP starts with ``v=0``, RFC 8866).
    """
    data = strict_object(body, CALLS)
    conversation = data.get("conversation_id")
    if (
        not isinstance(conversation, str)
        or not 0 < len(conversation) <= _MAX_ID
        or not conversation.isprintable()
    ):
        raise UpstreamInvalidResponse("calls: missing or invalid conversation_id")
    answer = data.get("answer")
    sdp = answer.get("sdp") if isinstance(answer, dict) else None
    if (
        not isinstance(answer, dict)
        or answer.get("type") != "answer"
        or not isinstance(sdp, str)
        or not sdp.startswith("v=0")
        or "\x00" in sdp
    ):
        raise UpstreamInvalidResponse("calls: answer is not {sdp, type: answer}")
    return {"conversation_id": conversation, "answer": {"sdp": sdp, "type": "answer"}}
