"""`GET /api/v1/me`: the caller's account and the CSRF token a cookie session sends on writes."""

from __future__ import annotations

from fastapi import APIRouter

from console import texts
from console.deps import AnyRole
from console.schemas import Me

router = APIRouter()


@router.get("/me", response_model=Me, tags=["account"])
def me(who: AnyRole) -> Me:
    """The caller's account, and the CSRF token a cookie session sends on writes."""
    u = who.user
    return Me(
        username=u.username,
        display_name=u.display_name,
        role=u.role,
        role_name=texts.ROLE_NAMES[u.role],
        csrf_token=who.csrf,
    )
