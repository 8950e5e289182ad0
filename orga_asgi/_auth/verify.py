"""Calling the app's ``verify`` function: sync or async, and never leaking the credential.

``verify`` is user code, so what it raises may quote the credential it was given; the hooks
of :mod:`.credentials` call it through :func:`checked`, which masks that credential exactly.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from orga_asgi._errors import Forbidden
from orga_asgi._principal import Principal
from orga_asgi._redaction.exceptions import scrub_exception

__all__ = ["Verify", "checked"]

Verify = Callable[[str], Awaitable[Principal | None] | Principal | None]
"""Checks a credential string (token or cookie value); sync or async."""


async def checked(check: Verify, value: str) -> Principal | None:
    """Call ``check`` (sync or async); if it raises, scrub ``value`` from what it raised
    before re-raising.

    ``verify`` functions are user code: ``raise LookupError(f"no session {token}")`` would
    otherwise put the credential in the logged traceback, and the pattern-based log
    redaction cannot know an opaque session id. This hook does, so it masks it exactly:
    in args, attributes (``OSError.filename``), notes, exception groups (an anyio task group
    inside ``verify``) and the cause/context chain. Cancellation and other exceptions that
    are not errors pass through untouched.
    """
    try:
        # One frame for both kinds: a sync verify runs inline (it must not block), and an
        # async one's awaitable is awaited here.
        result = check(value)
        if result is None or type(result) is Principal:  # a sync verify's usual answers
            return result
        if inspect.isawaitable(result):
            return await result
        return result  # anything else: the endpoint refuses it as a broken contract
    except Exception as exc:
        clean = scrub_exception(exc, value)
        if clean is exc:
            raise
        if isinstance(exc, Forbidden):  # keep the 403; its text is never sent anyway
            clean = Forbidden()
        failure = clean
    except BaseException as exc:
        # A group holding a cancellation next to errors: scrubbed in place, but always
        # re-raised as itself, since a stand-in would swallow the cancellation. Lone
        # CancelledError, KeyboardInterrupt...: not ours to touch.
        if _is_group(exc):
            scrub_exception(exc, value)
        raise
    # Raised here, outside the except blocks, so the original is not its __context__.
    raise failure


def _is_group(exc: BaseException) -> bool:
    # A BaseExceptionGroup (builtin on 3.11+, the exceptiongroup backport on 3.10) holding
    # both errors and cancellations still carries the errors' text.
    subs = getattr(exc, "exceptions", None)
    return isinstance(subs, tuple) and all(isinstance(e, BaseException) for e in subs)
