from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from service.api import sessions
from service.api.deps import CurrentKey, RegistryDep, SettingsDep, require_scope

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


@router.post("", dependencies=[Depends(require_scope("generate"))])
def open_session(request: Request, response: Response, key: CurrentKey, registry: RegistryDep,
                 settings: SettingsDep) -> dict:
    """Trade the API key in `Authorization` for an HttpOnly session cookie, for browsers (the dashboard, and
    EventSource, which cannot send headers). Without keys configured, no cookie is needed or set."""
    entry = next((k for k in settings.api_keys if k.name == key.name), None)
    if entry is None:
        return {"name": key.name, "scope": key.scope, "expires_at": None}
    token, expires = sessions.issue(registry.redis, entry, registry.p)
    response.set_cookie(sessions.COOKIE, token, max_age=sessions.TTL_S, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/v1/")
    return {"name": key.name, "scope": key.scope, "expires_at": expires}


@router.delete("", status_code=204, response_class=Response, dependencies=[Depends(require_scope("generate"))])
def close_session(request: Request, registry: RegistryDep) -> Response:
    """Sign out: the session ends on the server, so its cookie is refused from now on, and the browser forgets it."""
    # Read as the key gate reads it, so the session ended is the one the gate would admit.
    token = sessions.from_cookie_header(request.headers.get("cookie", "").encode("latin-1"))
    if token:  # whoever holds the cookie may end its session, however this request was authorised
        sessions.revoke(registry.redis, token, registry.p)
    response = Response(status_code=204)
    response.delete_cookie(sessions.COOKIE, path="/v1/", httponly=True, samesite="strict")
    return response
