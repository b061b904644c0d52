"""The codec endpoint: operators who hold the codec token read encrypted histories in the stock tools.

    temporal workflow show -w return-R-1001 --codec-endpoint https://<api>/codec --codec-auth "Bearer <token>"

The Temporal Web UI calls it from the operator's browser (its "Codec Server" setting, or the UI
server's `codec.endpoint`): `POST /codec/decode` and `/codec/encode` with `{"payloads": [...]}`, each
payload in protobuf's JSON form (metadata and data base64). A browser first asks with a preflight
(OPTIONS, no credentials): only the origins in CODEC_CORS_ORIGINS are answered. The token travels in
`Authorization: Bearer <token>` (the CLI's `--codec-auth`; the Web UI's "pass access token"), or, for a
Web UI without its own login, in a cookie set once by `POST /codec/session` (the UI's
`includeCredentials`). Keys never leave the process; the payloads come back decrypted, so the token is
as good as the key for reading: give it to the people who may read customers' addresses.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.errors import error_response
from integrations.payload_codec import EncryptionCodec, PayloadKeyError
from integrations.temporal_client import payload_codec

codec = APIRouter(prefix="/codec", include_in_schema=False)
COOKIE = "returns_codec"
_ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"


def _cors_headers(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    allowed = [o.strip() for o in request.app.state.settings.codec_cors_origins.split(",") if o.strip()]
    if origin is None or origin not in allowed:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def _authorized(request: Request) -> bool:
    token = request.app.state.settings.codec_auth_token
    if token is None or not token.get_secret_value():
        return False  # unset: nobody reads through this door
    expected = token.get_secret_value().encode()
    bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    cookie = request.cookies.get(COOKIE, "")
    return any(hmac.compare_digest(sent.encode(), expected) for sent in (bearer, cookie) if sent)


def _codec(request: Request) -> EncryptionCodec | None:
    if not hasattr(request.app.state, "payload_codec"):
        request.app.state.payload_codec = payload_codec(request.app.state.settings)
    return request.app.state.payload_codec


async def _convert(request: Request, decode: bool) -> Response:
    cors = _cors_headers(request)
    if not _authorized(request):
        return _with(error_response(401, "send the codec token: Authorization: Bearer <token>"), cors)
    codec = _codec(request)
    if codec is None:
        return _with(error_response(404, "payload encryption is off here (no PAYLOAD_KEYS)"), cors)
    try:
        payloads = json_format.Parse(await request.body(), Payloads(), ignore_unknown_fields=True)
    except json_format.ParseError:
        return _with(error_response(400, 'expected {"payloads": [{"metadata": {...}, "data": "..."}]}'), cors)
    try:
        converted = codec.decode_now(payloads.payloads) if decode else codec.encode_now(payloads.payloads)
    except PayloadKeyError as error:
        return _with(error_response(422, str(error)), cors)
    body = json_format.MessageToJson(Payloads(payloads=converted))
    return Response(body, media_type="application/json", headers=cors)


def _with(response: JSONResponse, headers: dict[str, str]) -> JSONResponse:
    response.headers.update(headers)
    return response


@codec.post("/decode")
async def decode(request: Request) -> Response:
    return await _convert(request, decode=True)


@codec.post("/encode")
async def encode(request: Request) -> Response:
    return await _convert(request, decode=False)


@codec.options("/decode")
@codec.options("/encode")
async def preflight(request: Request) -> Response:
    cors = _cors_headers(request)
    return Response(status_code=204 if cors else 403, headers=cors)


_SESSION_FORM = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Codec session</title></head>
<body><form method="post"><label>Codec token <input type="password" name="token" autocomplete="off"></label>
<button>Open a session</button></form><p>The Web UI of this deployment can then show decrypted payloads in
this browser (its codec setting "include cross-origin credentials").</p></body></html>"""


@codec.get("/session")
async def session_form() -> HTMLResponse:
    return HTMLResponse(_SESSION_FORM)


@codec.post("/session")
async def open_session(request: Request) -> Response:
    """Sets the token as an HttpOnly cookie scoped to /codec, so the Web UI's calls carry it."""
    token = parse_qs((await request.body()).decode(errors="replace")).get("token", [""])[0]
    expected = request.app.state.settings.codec_auth_token
    if not expected or not token or not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        return error_response(401, "unknown codec token")
    response = Response("session open: the Web UI can decode in this browser\n", media_type="text/plain")
    secure = request.url.scheme == "https"
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/codec", secure=secure)
    return response
