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

# run.py sets ORGA_BASE_URL to its private nginx; the default only matters when an app is
# started by hand.
UPSTREAM = os.environ.get("ORGA_BASE_URL", "http://127.0.0.1:18080")
