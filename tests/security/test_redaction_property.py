"""Property: whatever text surrounds them, no secret survives redaction.

Secrets are real ones where the kit has them (ephemeral tokens and TURN credentials minted
by ``FakeOrga``, its API key) and generated ones otherwise (``sk_orga_ai_`` keys, JWT-shaped
tokens, opaque bearer values and session cookies). Each appears in a spelling logs really
carry it in (a header line, a query string, a dict repr, JSON, an ASGI header pair...), and
the spellings are glued, without separators, between fillers: random text, and fragments
chosen to confuse the patterns (``token=``, an open quote or bracket, a stray ``Bearer``,
``eyJ``, a backslash). ``nox -s soak`` runs the ``slow`` twin with many more examples.
"""

from __future__ import annotations

import functools
import json
from urllib.parse import quote

import anyio
from hypothesis import assume
from hypothesis import strategies as st

from orga_asgi._redaction.text import _TRIGGERS, FAMILIES, _gate, _lower
from orga_asgi.redaction import REDACTED, redact
from orga_asgi.testing import FAKE_API_KEY, FakeOrga, sandbox_client
from tests._properties import twins as property_twins

QUICK = 200
twins = functools.partial(property_twins, quick=QUICK)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
B64TOKEN = B64URL + ".~+/"


async def _mint(count: int) -> list[dict[str, str]]:
    fake = FakeOrga()
    grants = []
    async with sandbox_client(fake) as client:
        for _ in range(count):
            minted = await client.post(
                "/v1/realtime/client-secrets", headers={"authorization": f"Bearer {FAKE_API_KEY}"}
            )
            token = minted.json()["ephemeral_token"]
            ice = await client.get(
                "/v1/realtime/ice-config", headers={"authorization": f"Bearer {token}"}
            )
            turn = ice.json()["iceServers"][1]
            grants.append(
                {
                    "token": token,
                    "username": turn["username"],
                    "credential": turn["credential"],
                    "ice_body": ice.text,
                    "mint_body": minted.text,
                }
            )
    return grants


GRANTS = anyio.run(_mint, 5)  # real secrets from the fake upstream, minted once

segment = st.text(B64URL, min_size=4, max_size=40)
opaque = st.text(B64TOKEN, min_size=12, max_size=48).filter(lambda s: s[0] not in ".~+/")
generated_key = st.text(B64URL, min_size=8, max_size=40).map(lambda s: "sk_orga_ai_" + s)
generated_jwt = st.tuples(segment, segment, segment).map(lambda t: "eyJ" + ".".join(t))
grant = st.sampled_from(GRANTS)


def forms() -> st.SearchStrategy[tuple[str, list[str]]]:
    """A secret written the way some log line writes it: (text, the secrets in it)."""

    def one(text: str, *secrets: str) -> tuple[str, list[str]]:
        return text, list(secrets)

    api_key = st.one_of(st.just(FAKE_API_KEY), generated_key)
    jwt = st.one_of(grant.map(lambda g: g["token"]), generated_jwt)
    bearer_value = st.one_of(opaque, jwt, api_key)
    return st.one_of(
        api_key.map(lambda k: one(k, k)),
        jwt.map(lambda t: one(t, t)),
        bearer_value.map(lambda v: one(f"Bearer {v}", v)),
        bearer_value.map(lambda v: one(f"Authorization: Bearer {v}\r\n", v)),
        bearer_value.map(lambda v: one(f"authorization=Bearer {v}", v)),
        bearer_value.map(lambda v: one(f"{{'authorization': 'Bearer {v}'}}", v)),
        bearer_value.map(lambda v: one(f"(b'authorization', b'Bearer {v}')", v)),
        opaque.map(lambda v: one(f"Cookie: session={v}; theme=dark", v)),
        opaque.map(lambda v: one(f"set-cookie: session={v}; HttpOnly; Secure", v)),
        opaque.map(lambda v: one(f"cookies={{'session': '{v}', 'theme': 'dark'}}", v)),
        opaque.map(lambda v: one(f'{{"cookies": {{"session": "{v}"}}}}', v)),
        opaque.map(lambda v: one(f"GET /s?token={v}&x=1", v)),
        opaque.map(lambda v: one(f"csrftoken={v}", v)),
        opaque.map(lambda v: one(f"X-Api-Key: {v}", v)),
        # In a URL a password is percent-encoded (RFC 3986); raw `/` is covered unless it
        # reads as a port and path (`:8080/`), which free text cannot tell apart.
        opaque.map(lambda v: quote(v, safe="")).map(lambda v: one(f"redis://:{v}@cache:6379/0", v)),
        opaque.map(lambda v: one(f"tokens=['{v}']", v)),
        grant.map(lambda g: one(g["ice_body"], g["username"], g["credential"])),
        grant.map(lambda g: one(g["mint_body"], g["token"])),
        grant.map(lambda g: one(json.dumps(g["ice_body"]), g["username"], g["credential"])),
        grant.map(
            lambda g: one(
                f"turn username={g['username']} credential={g['credential']}",
                g["username"],
                g["credential"],
            )
        ),
    )


FORMS = forms()
TRAPS = (
    *("token=", 'token="', "token='", "'token': ", '"token": "', "tokens=", "max_tokens="),
    *("Bearer ", "bearer", "basic ", "Cookie", "cookie: ", "authorization", "eyJ", "eyJa."),
    *("sk_orga_ai_", "://", "://a:", "@", ":", "=", "[", "{", "(", "]", "'", '"', "\\", '\\"'),
    *("\n", " ", "\t", ";", ",", "&", "%3D", "İ", "[REDACTED]", "b'", "x"),
)
filler = st.one_of(st.text(max_size=12), st.sampled_from(TRAPS))


@st.composite
def texts(draw: st.DrawFn) -> tuple[str, list[str]]:
    parts: list[str] = [draw(filler)]
    secrets: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        text, found = draw(FORMS)
        parts += [text, draw(filler)]
        secrets += found
    whole = "".join(parts)
    # A secret the fillers happen to spell out again would "survive" without a leak.
    assume(all(whole.count(s) == sum(p.count(s) for p in parts[1::2]) for s in secrets))
    assume(not any(s in f"{REDACTED}[REDACTED_JWT]" for s in secrets))
    return whole, secrets


def no_secret_survives(case: tuple[str, list[str]]) -> None:
    text, secrets = case
    clean = redact(text)
    for secret in secrets:
        assert secret not in clean, f"{secret!r} survived in {clean!r}"
    assert redact(clean) == clean  # a second pass (a logger and a handler filter) is a no-op


test_no_secret_survives, test_no_secret_survives_soak = twins(no_secret_survives, texts())


def the_gate_lets_every_secret_through(case: tuple[str, list[str]]) -> None:
    # redact() returns a text untouched when the gate finds nothing in it: the gate must
    # match wherever any pattern would.
    text = case[0]
    lowered = _lower(text)
    present = frozenset(t for t in _TRIGGERS if t in lowered)
    if any(family.spans(text) for family in FAMILIES):
        assert _gate(present).search(lowered) is not None, text


test_the_gate_lets_every_secret_through, test_the_gate_lets_every_secret_through_soak = twins(
    the_gate_lets_every_secret_through, st.one_of(texts(), st.tuples(st.text(), st.just([])))
)


def clean_text_is_kept(text: str) -> None:
    assume(not any(t in text.lower() for t in ("sk_orga_ai_", "eyj", "://", "bearer", "basic")))
    assume(not any(w in text.lower() for w in ("token", "cookie", "authoriz", "secret", "pass")))
    assume(not any(w in text.lower() for w in ("username", "credential", "api", "private")))
    assume("instructions" not in text.lower())
    assert redact(text) is text


test_clean_text_is_kept, test_clean_text_is_kept_soak = twins(clean_text_is_kept, st.text())


def test_the_grants_are_real() -> None:
    # What the property is fed: tokens and TURN credentials the fake really issued.
    assert all(g["token"].startswith("eyJ") and g["token"].count(".") == 2 for g in GRANTS)
    assert all(g["username"] in g["ice_body"] and g["credential"] in g["ice_body"] for g in GRANTS)
