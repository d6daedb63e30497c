"""Every route of account members: the operator's member admin, sign-in and sessions, and a
signed-in member's keys and usage, and an owner's members (docs/members.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmrelay.admin.endpoint import Endpoint
from llmrelay.admin.member_auth import session_endpoints
from llmrelay.admin.member_keys import member_key_endpoints
from llmrelay.admin.member_team import member_team_endpoints
from llmrelay.admin.members import member_admin_endpoints

if TYPE_CHECKING:
    from llmrelay.relay import Relay


def member_endpoints(relay: Relay) -> list[Endpoint]:
    return [
        *member_admin_endpoints(relay),
        *session_endpoints(relay),
        *member_key_endpoints(relay),
        *member_team_endpoints(relay),
    ]
