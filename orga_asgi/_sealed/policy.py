"""``SessionPolicy``: what the server decides about the parameters of a sealed session.

The browser's ``params`` go through :meth:`SessionPolicy.apply` before the relay sends them
to Orga: pinned fields are replaced, constrained fields checked, fields left to the browser
type-checked and passed, and every other key dropped. A policy is immutable and validated
when built; :func:`encode` and :func:`decode` carry one through the shared handle store.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from orga_asgi._errors import (
    ConfigurationError,
    InternalError,
    InvalidRequestBody,
    RequestError,
    SessionParamsRefused,
)
from orga_asgi._log import get_logger
from orga_asgi._upstream.attempts import where

from .rules import OneOf, Pinned, Range, is_number

if TYPE_CHECKING:
    from orga_asgi._principal import Principal

__all__ = ["PARAMS", "PolicySource", "SessionPolicy", "decode", "encode", "resolver"]

logger = get_logger("orga_asgi.sealed")


def _text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 128 and value.isprintable()


def _modality(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 32 and value.isprintable()


def _modalities(value: object) -> bool:
    return (
        isinstance(value, (list, tuple))
        and 0 < len(value) <= 8
        and all(_modality(v) for v in value)
        and len(set(value)) == len(value)
    )


class _Param(NamedTuple):
    name: str
    check: Callable[[object], bool]  # a value of the right type (the browser's or pinned)
    element: Callable[[object], bool]  # one allowed value of a OneOf
    numeric: bool = False  # Range fits
    listed: bool = False  # a list: OneOf constrains each element
    nullable: bool = False  # null is a value, not an absence


PARAMS: tuple[_Param, ...] = (
    _Param("voice", _text, _text),
    _Param("model", _text, _text),
    _Param("temperature", is_number, is_number, numeric=True),
    _Param("return_transcription", lambda v: isinstance(v, bool), lambda v: isinstance(v, bool)),
    _Param(
        "instructions",
        lambda v: v is None or isinstance(v, str),
        lambda v: v is None or isinstance(v, str),
        nullable=True,
    ),
    _Param("modalities", _modalities, _modality, listed=True),
    _Param("history", lambda v: isinstance(v, bool), lambda v: isinstance(v, bool)),
)
"""The session parameters of the vendor's ``/v1/realtime/calls``, in the order sent."""

_FIX = "wrap the value in orga_asgi.Pinned(...), OneOf(...) or Range(low, high)"


@dataclass(frozen=True, kw_only=True, repr=False)
class SessionPolicy:
    """The server's say over each parameter of a session the relay starts.

    Each field holds a :class:`~orga_asgi.Pinned` value (always sent, whatever the
    browser asked), a :class:`~orga_asgi.OneOf` set of allowed values or a
    :class:`~orga_asgi.Range` (the browser's value if inside, else 403
    ``session_params_refused`` naming the field), or ``None``: left to the browser (its
    value is type-checked and passed on). Parameters the policy does not know are dropped.
    Pinned or allowed ``instructions`` are never logged nor shown in a ``repr``::

        SessionPolicy(
            instructions=Pinned("You are Acme's support agent..."),
            voice=OneOf("Sofía", "Mateo"),
            temperature=Range(0.2, 0.8, default=0.5),
            model=Pinned("orga-1-beta"),
        )

    Raises:
        ConfigurationError: a field holds something else than a rule, a rule that does not
            fit its parameter (``Range`` for a text), or a value of the wrong type.
    """

    voice: Pinned[str] | OneOf[str] | None = None
    """The agent's voice (text), e.g. ``"Sofía"``."""
    model: Pinned[str] | OneOf[str] | None = None
    """The model (text), e.g. ``"orga-1-beta"``."""
    temperature: Pinned[float] | OneOf[float] | Range | None = None
    """Sampling temperature (a number)."""
    return_transcription: Pinned[bool] | OneOf[bool] | None = None
    """Whether transcripts are sent back (true or false)."""
    instructions: Pinned[str | None] | OneOf[str | None] | None = None
    """The agent's system prompt (text, or ``None`` for none)."""
    modalities: Pinned[tuple[str, ...]] | OneOf[str] | None = None
    """The media of the session, e.g. ``("audio", "video")``; ``OneOf`` lists the allowed
    elements."""
    history: Pinned[bool] | OneOf[bool] | None = None
    """Whether the conversation keeps its history (true or false)."""

    def __post_init__(self) -> None:
        for param in PARAMS:
            rule: object = getattr(self, param.name)
            if rule is None:
                continue
            if isinstance(rule, Pinned):
                value = rule.value
                if param.listed and isinstance(value, list):
                    value = tuple(value)
                    object.__setattr__(self, param.name, Pinned(value))
                ok = param.check(value)
            elif isinstance(rule, OneOf):
                ok = all(param.element(v) for v in rule.values)
            elif isinstance(rule, Range):
                ok = param.numeric
            else:
                raise ConfigurationError(
                    f"SessionPolicy {param.name}={rule!r} is not a rule: {_FIX} (or None to "
                    "leave it to the browser)."
                )
            if not ok:
                raise ConfigurationError(
                    f"SessionPolicy {param.name}: {rule!r} does not fit this parameter "
                    f"({_doc(param.name)})."
                )

    def __repr__(self) -> str:
        shown = []
        for param in PARAMS:
            rule = getattr(self, param.name)
            if rule is not None:
                text = "<redacted>" if param.name == "instructions" else repr(rule)
                shown.append(f"{param.name}={text}")
        return f"SessionPolicy({', '.join(shown)})"

    def apply(self, params: Mapping[str, object]) -> dict[str, object]:
        """The ``params`` to send upstream for the browser's ``params``.

        Raises:
            InvalidRequestBody: a parameter the policy leaves open has the wrong type.
            SessionParamsRefused: a value is outside what a rule allows (or missing where
                a rule has no default); ``param`` names the field.
        """
        out: dict[str, object] = {}
        for param in PARAMS:
            name, rule = param.name, getattr(self, param.name)
            if isinstance(rule, Pinned):
                out[name] = list(rule.value) if param.listed else rule.value
                continue
            value = params.get(name)
            present = name in params and (value is not None or param.nullable)
            if present and not param.check(value):
                raise InvalidRequestBody(f"params.{name} has the wrong type")
            if rule is None:
                if present:
                    out[name] = value
            elif isinstance(rule, OneOf):
                if not present:
                    out[name] = list(rule.values) if param.listed else rule.values[0]
                elif all(
                    map(rule.allows, cast("list[object]", value) if param.listed else [value])
                ):
                    out[name] = value
                else:
                    raise SessionParamsRefused(name)
            elif present and rule.allows(value):
                out[name] = value
            elif not present and rule.default is not None:
                out[name] = rule.default
            else:
                raise SessionParamsRefused(name)
        return out


def _doc(name: str) -> str:
    spec = next(f for f in fields(SessionPolicy) if f.name == name)
    return str(spec.type).replace(" | None", "")


# --- The shared store carries a resolved policy as JSON ------------------------------------


def encode(policy: SessionPolicy) -> dict[str, list[Any]]:
    """The policy as JSON-ready data (see :func:`decode`)."""
    out: dict[str, list[Any]] = {}
    for param in PARAMS:
        rule = getattr(policy, param.name)
        if isinstance(rule, Pinned):
            value = rule.value
            out[param.name] = ["pin", list(value) if param.listed else value]
        elif isinstance(rule, OneOf):
            out[param.name] = ["one", list(rule.values)]
        elif isinstance(rule, Range):
            out[param.name] = ["range", rule.low, rule.high, rule.default]
    return out


def decode(data: Mapping[str, Any]) -> SessionPolicy:
    """The policy :func:`encode` wrote.

    Raises:
        ValueError: ``data`` is not what :func:`encode` writes.
    """
    rules: dict[str, object] = {}
    for name, rule in data.items():
        kind = rule[0]
        if kind == "pin":
            rules[name] = Pinned(rule[1])
        elif kind == "one":
            rules[name] = OneOf(*rule[1])
        elif kind == "range":
            rules[name] = Range(rule[1], rule[2], rule[3])
        else:
            raise ValueError("not an encoded SessionPolicy")
    try:
        return SessionPolicy(**rules)  # type: ignore[arg-type]
    except (ConfigurationError, TypeError):
        raise ValueError("not an encoded SessionPolicy") from None


# --- A policy given once, or per principal ---------------------------------------------------

PolicySource = SessionPolicy | Callable[["Principal"], SessionPolicy | Awaitable[SessionPolicy]]
"""``session_policy=``: one policy, or a callable (sync or async) giving one per principal."""


def resolver(source: object) -> Callable[[Principal], Awaitable[SessionPolicy]] | None:
    """For a callable ``session_policy``, the coroutine that runs it safely; ``None`` for a
    fixed policy (nothing to resolve per request).

    Raises:
        ConfigurationError: ``source`` is neither a SessionPolicy nor a callable.
    """
    if isinstance(source, SessionPolicy):
        return None
    if not callable(source):
        raise ConfigurationError(
            "session_policy must be an orga_asgi.SessionPolicy or a callable taking the "
            "Principal and returning one (sync or async)."
        )
    hook = cast("Callable[[Principal], object]", source)

    async def resolve(principal: Principal) -> SessionPolicy:
        raised = False
        try:
            policy = hook(principal)
            if inspect.isawaitable(policy):
                policy = await policy
        except RequestError:
            raise  # Forbidden for a tenant without an agent: the caller's answer
        except Exception as exc:
            # The type and place only: its text may quote anything, a prompt included.
            logger.error("the session_policy callable raised %s", where(exc))
            raised = True  # raised below, outside the handler: no __context__ quoting it
        if raised:
            raise InternalError("the session_policy callable raised")
        if not isinstance(policy, SessionPolicy):
            logger.error("the session_policy callable returned %s, not a SessionPolicy",
                         type(policy).__name__)  # fmt: skip
            raise InternalError("session_policy contract")
        return policy

    return resolve
