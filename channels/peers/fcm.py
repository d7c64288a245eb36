"""A local stand-in for Firebase Cloud Messaging's HTTP v1 API and Google's OAuth token endpoint (aiohttp on
127.0.0.1), for the demo and the tests.

``async with FcmPeer(project_id="carnet-demo") as peer:`` serves at ``peer.base_url``.
``peer.service_account()`` makes a throw-away service account (a fresh RSA key, ``token_uri`` pointing at the
peer) whose public key the peer keeps to check token requests. The server runs on its own event loop in a
thread: google-auth fetches tokens with the synchronous ``requests`` library (also from inside
firebase_admin's async auth flow), which would block a peer running on the caller's loop.

``POST /token`` (the OAuth 2.0 JWT-bearer grant, RFC 7523, as google-auth sends it)
    ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and ``assertion``: an RS256 JWT signed by a
    service account's key (looked up by ``iss`` and ``kid``), ``aud`` Google's token URI (what google-auth
    puts there) or the peer's own, ``exp`` in the
    future and a ``scope``. Answer: ``{"access_token", "expires_in": 3600, "token_type": "Bearer"}``;
    otherwise 400 ``{"error": "invalid_grant" | "unsupported_grant_type", "error_description"}``.

``POST /v1/projects/{project}/messages:send``
    Needs ``Authorization: Bearer <a token the peer issued>`` (401 UNAUTHENTICATED otherwise) for that project
    (403 PERMISSION_DENIED otherwise). Stores the message and answers ``{"name":
    "projects/<p>/messages/<id>"}``. Refusals use FCM's error JSON (``google.rpc.Status`` with an ``FcmError``
    detail), chosen by the registration token's prefix:

    ================  ====  ==================  ==================
    token             HTTP  status              FCM errorCode
    ================  ====  ==================  ==================
    unregistered-...  404   NOT_FOUND           UNREGISTERED
    mismatch-...      403   PERMISSION_DENIED   SENDER_ID_MISMATCH
    busy-...          503   UNAVAILABLE         UNAVAILABLE
    quota-...         429   RESOURCE_EXHAUSTED  QUOTA_EXCEEDED (Retry-After: 30)
    invalid-..., none 400   INVALID_ARGUMENT    INVALID_ARGUMENT
    ================  ====  ==================  ==================
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

#: google-auth signs service-account assertions for Google's token endpoint whatever ``token_uri`` says.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_ERRORS = {
    "unregistered-": (404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    "mismatch-": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"),
    "busy-": (503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
    "quota-": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for the device."),
    "invalid-": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "The registration token is not a valid FCM token"),
}


@dataclass(frozen=True)
class PeerMessage:
    name: str
    project: str
    message: dict[str, Any]
    validate_only: bool

    @property
    def token(self) -> str:
        return str(self.message.get("token") or self.message.get("fid") or "")


class FcmPeer:
    def __init__(self, *, project_id: str = "carnet-demo") -> None:
        self.project_id = project_id
        self.messages: list[PeerMessage] = []
        #: Every token request: (client_email, granted?, reason).
        self.token_requests: list[tuple[str, bool, str]] = []
        self._keys: dict[tuple[str, str], rsa.RSAPublicKey] = {}  #: (client_email, key id) -> public key
        self._tokens: dict[str, tuple[str, float]] = {}  #: access token -> (project, expiry)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0

    # ------------------------------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        if not self._port:
            raise RuntimeError("the FCM peer is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def start_in_thread(self) -> FcmPeer:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fcm-peer", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)
        return self

    def stop_thread(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(timeout=10)
            self._runner = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None
        self._port = 0

    async def __aenter__(self) -> FcmPeer:
        return await asyncio.to_thread(self.start_in_thread)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop_thread)

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/v1/projects/{project}/messages:send", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    # ------------------------------------------------------------------------------------------ controls

    def service_account(self, *, client_email: str | None = None) -> dict[str, Any]:
        """A throw-away service account of this project whose tokens the peer will grant."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = secrets.token_hex(20)
        email = client_email or f"firebase-adminsdk-{secrets.token_hex(3)}@{self.project_id}.iam.gserviceaccount.com"
        self._keys[(email, key_id)] = key.public_key()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": str(secrets.randbelow(10**20)),
            "auth_uri": f"{self.base_url}/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": f"{self.base_url}/certs",
            "client_x509_cert_url": f"{self.base_url}/certs/{email}",
            "universe_domain": "googleapis.com",
        }

    def to(self, token: str) -> list[PeerMessage]:
        with self._lock:
            return [m for m in self.messages if m.token == token]

    # ------------------------------------------------------------------------------------------ the API

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant, assertion = str(form.get("grant_type", "")), str(form.get("assertion", ""))
        if grant != JWT_BEARER:
            return self._deny("?", "unsupported_grant_type", f"grant_type must be {JWT_BEARER}")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError as exc:
            return self._deny("?", "invalid_grant", f"the assertion is not a JWT: {exc}")
        email = str(unverified.get("iss", ""))
        public = self._keys.get((email, str(header.get("kid", ""))))
        if public is None:
            return self._deny(email, "invalid_grant", "Invalid JWT Signature.")
        try:
            claims = jwt.decode(
                assertion,
                public,
                algorithms=["RS256"],
                audience=[GOOGLE_TOKEN_URI, self.token_uri],
                options={"require": ["iss", "aud", "exp", "iat"]},
            )
        except jwt.InvalidTokenError as exc:
            return self._deny(email, "invalid_grant", f"Invalid JWT: {exc}")
        if not str(claims.get("scope", "")).strip():
            return self._deny(email, "invalid_scope", "the assertion has no scope")
        access_token = "ya29.peer-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[access_token] = (self.project_id, time.time() + 3600)
            self.token_requests.append((email, True, ""))
        return web.json_response({"access_token": access_token, "expires_in": 3600, "token_type": "Bearer"})

    def _deny(self, email: str, error: str, description: str) -> web.Response:
        with self._lock:
            self.token_requests.append((email, False, description))
        return web.json_response({"error": error, "error_description": description}, status=400)

    async def _send(self, request: web.Request) -> web.Response:
        project = request.match_info["project"]
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        with self._lock:
            issued = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if issued is None or issued[1] < time.time():
            return _fcm_error(401, "UNAUTHENTICATED", None, "Request had invalid authentication credentials.")
        if issued[0] != project:
            return _fcm_error(403, "PERMISSION_DENIED", None, f"Permission denied on project {project}.")
        try:
            body = await request.json()
            message = body["message"]
            assert isinstance(message, dict)
        except (ValueError, KeyError, TypeError, AssertionError):
            return _fcm_error(400, "INVALID_ARGUMENT", None, "Invalid JSON payload received.")
        registration = str(message.get("token") or message.get("fid") or "")
        if not registration:
            return _fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "The message has no target token.")
        for prefix, (status, rpc_status, code, text) in _ERRORS.items():
            if registration.startswith(prefix):
                headers = {"Retry-After": "30"} if status == 429 else None
                return _fcm_error(status, rpc_status, code, text, headers)
        name = f"projects/{project}/messages/{uuid.uuid4().hex[:16]}"
        with self._lock:
            self.messages.append(PeerMessage(name, project, message, bool(body.get("validate_only"))))
        return web.json_response({"name": name})


def _fcm_error(
    status: int, rpc_status: str, code: str | None, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
    if code:
        error["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]
    return web.json_response({"error": error}, status=status, headers=headers)
