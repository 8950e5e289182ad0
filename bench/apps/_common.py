"""Constants shared by the bench apps and bench/run.py (which renders the nginx upstream from them).

The upstream answers exactly these bodies, so every implementation must return exactly
``BODY`` (extra keys allowed); run.py validates one response per implementation before load.
"""

from __future__ import annotations

import os

PATH = "/api/orga-client-secrets"
API_KEY = "sk_orga_ai_test"
# The ephemeral token the upstream hands out; starts with "eyJ" because the nginx stand-in
# checks the ice-config call's bearer against that prefix.
TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJiZW5jaCIsInNjb3BlIjoiYXBpIiwiaWF0Ijox"
    "NzYyODYwODgzfQ.c2lnbmF0dXJlX2Zvcl9iZW5jaF9vbmx5"
)
ICE_SERVERS = [
    {"urls": "stun:stun1.l.google.com:19302"},
    {"urls": ["turn:turn.example.com:3478"], "username": "u", "credential": "c"},
]
CLIENT_SECRETS = {"ephemeralToken": TOKEN, "ttl": 120}
ICE_CONFIG = {"iceServers": ICE_SERVERS}
BODY = {"ephemeralToken": TOKEN, "iceServers": ICE_SERVERS}

# The third call (POST /v1/realtime/calls), for the sealed relay row: what the browser SDK
# sends (an SDP offer and every session parameter) and what Orga answers.
CALLS_ANSWER = {
    "conversation_id": "conv_bench_0001",
    "answer": {"sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", "type": "answer"},
}
CALLS_BODY = {
    "offer": {
        "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" + "a=x\r\n" * 200,
        "type": "offer",
        "candidates": [],
    },
    "params": {
        "voice": "Sofia",
        "model": "orga-1-beta",
        "temperature": 0.5,
        "return_transcription": False,
        "instructions": None,
        "modalities": ["audio", "video"],
        "history": True,
    },
}

# run.py sets ORGA_BASE_URL to its private nginx; the default only matters when an app is
# started by hand.
UPSTREAM = os.environ.get("ORGA_BASE_URL", "http://127.0.0.1:18080")
