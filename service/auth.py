"""Bearer-token check for the endpoints that change state (POST/PUT/DELETE).

The dependency reads the Authorization header itself, so the OpenAPI document says nothing
about it by default. A route that takes it also says so (``openapi_extra=GUARDED``), and
``service.openapi`` turns that mark into the bearer security requirement and the 401/403
answers, only when a token is configured: the document describes the server as it runs.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request, status

from service.deps import SettingsDep

SCHEME = "HTTPBearer"  # the name of the security scheme in the OpenAPI document
MARK = "x-dcgan-token"  # an operation's mark, replaced by its security requirement
GUARDED = {MARK: True}


async def require_token(request: Request, settings: SettingsDep) -> None:
    if settings.api_token is None:
        return
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="this endpoint needs 'Authorization: Bearer <DCGAN_API_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    expected = settings.api_token.get_secret_value().encode()
    if not hmac.compare_digest(credentials.encode(), expected):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="wrong API token")


TokenRequired = Depends(require_token)
