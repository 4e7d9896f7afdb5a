"""The authorization matrix: every staff page and every API endpoint, asked by every kind of
principal (anonymous, a resident, each staff role, the organizer of the unit that owns the
objects and the organizer of another unit). Only the principals declared below may pass.

The objects acted on are real and owned by unit A: a comment period with comments, an FAQ
entry, an attachment and a board question; a meeting open for applications and a meeting
already drawn (an accepted invitation, a suggestion); an open-month event with a registration;
a vote campaign with a ballot. Bodies are valid, so an allowed principal reaches the rule it
asked for (its answer may still be a 409 or 422 from that rule: "allowed" means the request
passed authorization, i.e. neither 401 nor 403 nor a sign-in redirect). A denied principal must
get 401/403 (an anonymous page visit: the redirect to the sign-in form), or 404 where the object
is hidden from it (the other unit's organizer, drafts), and its unsafe request changes nothing
in the database (every row of every table is compared). A denied API call with a malformed body
is refused the same way: an endpoint names its roles, and the API refuses any other caller
before reading the body (see ``_body_checked_first`` for the two exceptions).

A staff page or an API endpoint without a row here fails the test: a new route must say who
may use it."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from starlette.routing import Route
from tortoise import Tortoise

from canyu.api.framework import REGISTRY
from canyu.core import clock
from canyu.core.permissions import Principal
from conftest import csrf_of, html_sign_in, html_staff_sign_in, sign_in, staff_headers
from consultations.helpers import make_consultation
from meetings.helpers import application_body, fill_pool, meeting_body

UNIT_A = "区建设和管理委员会"
UNIT_B = "花木街道"
PASSWORD = "correct horse battery"
RESIDENT_EMAIL = "matrix.resident@example.com"

#: principal -> (username, role, unit)
STAFF = {
    "admin": ("matrix-admin", "admin", None),
    "moderator": ("matrix-moderator", "moderator", None),
    "reviewer": ("matrix-reviewer", "reviewer", None),
    "organizer_a": ("matrix-org-a", "organizer", UNIT_A),
    "organizer_b": ("matrix-org-b", "organizer", UNIT_B),
}
PRINCIPALS = ("anonymous", "resident", *STAFF)

EVERYONE = frozenset(PRINCIPALS)
SIGNED_IN = EVERYONE - {"anonymous"}
RESIDENT = frozenset({"resident"})
ANY_STAFF = frozenset(STAFF)
ADMIN = frozenset({"admin"})
MODERATORS = frozenset({"admin", "moderator"})
REVIEWERS = frozenset({"admin", "reviewer"})
#: Organizers of any unit (work not tied to an existing object: lists, new forms)
ORGANIZERS = frozenset({"admin", "organizer_a", "organizer_b"})
#: Work on an object owned by unit A
UNIT_A_STAFF = frozenset({"admin", "organizer_a"})

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
Values = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]] | None


@dataclass(frozen=True)
class Case:
    """One request: ``path`` is the route's own template; ``ids`` names the world's object for
    each path parameter (or a literal string)."""

    method: str
    path: str
    allowed: frozenset[str]
    ids: dict[str, str] = field(default_factory=dict)
    body: Values = None
    files: bool = False
    #: principals from whom the object is hidden: a 404 is their refusal
    hidden: frozenset[str] = frozenset()
    #: answers an allowed principal may get besides success and rule refusals
    not_found_ok: bool = False
    #: the API call uses a token of its own (it revokes it)
    fresh_token: bool = False

    def concrete(self, world: dict[str, Any]) -> str:
        def fill(match: re.Match[str]) -> str:
            key = self.ids[match.group(1)]
            return str(world.get(key, key))

        return re.sub(r"\{(\w+)(?::\w+)?\}", fill, self.path)

    def values(self, world: dict[str, Any]) -> dict[str, Any] | None:
        return self.body(world) if callable(self.body) else self.body


def _local(delta: timedelta) -> str:
    return clock.local(clock.now() + delta).strftime("%Y-%m-%dT%H:%M")


def _iso(delta: timedelta) -> str:
    return clock.local(clock.now() + delta).isoformat()


def _consultation_form(w: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": "浦东新区公共停车场收费管理办法（征求意见稿）",
        "kind": "normative",
        "basis": "《上海市停车场（库）管理办法》",
        "contact": "区建设和管理委员会，电话 021-12345678",
        "interpretation": "明确收费标准。",
        "opens_at": _local(timedelta(days=1)),
        "closes_at": _local(timedelta(days=40)),
        "period_reason": "",
        "topics": "交通",
        "draft": "为规范停车收费，制定本办法。\n\n## 第一条 适用范围\n\n本区公共停车场。",
    }


def _meeting_form(w: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": "浦东新区停车收费听取意见会",
        "meets_at": _local(timedelta(days=20)),
        "topics": "收费标准\n夜间停车",
        "applications_open_at": _local(timedelta(hours=-1)),
        "applications_close_at": _local(timedelta(days=10)),
        "seats": "3",
        "alternates": "1",
        "quotas": "",
    }


def _event_form(w: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": "走进浦东新区停车管理中心",
        "summary": "参观停车诱导系统。",
        "theme": "城市治理",
        "mode": "offline",
        "location": "浦东新区世纪大道 100 号",
        "starts_at": _local(timedelta(days=12)),
        "ends_at": _local(timedelta(days=12, hours=2)),
        "capacity": "20",
        "registration_opens_at": _local(timedelta(hours=-1)),
        "registration_closes_at": _local(timedelta(days=11)),
        "max_companions": "1",
        "published": "1",
    }


def _campaign_form(w: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": "最受欢迎的停车管理开放活动",
        "rules": "每人每天一票。",
        "opens_at": _local(timedelta(hours=-1)),
        "closes_at": _local(timedelta(days=5)),
        "ballots_per_day": "1",
        "choices_per_ballot": "1",
        "public_weight": "0.7",
        "expert_weight": "0.3",
        "candidates": "停车管理中心开放日\n城市运行中心开放日",
    }


def _event_json(**overrides: Any) -> dict[str, Any]:
    body = {
        "title": "走进浦东新区城市运行综合管理中心",
        "summary": "参观城市大脑。",
        "theme": "城市治理",
        "mode": "offline",
        "location": "浦东新区世纪大道 2001 号",
        "stream_url": None,
        "starts_at": _iso(timedelta(days=10)),
        "ends_at": _iso(timedelta(days=10, hours=2)),
        "capacity": 5,
        "registration_opens_at": _iso(timedelta(hours=-1)),
        "registration_closes_at": _iso(timedelta(days=9)),
        "max_companions": 1,
        "published": True,
    }
    body.update(overrides)
    return body


def _campaign_json(w: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": "2026年最受欢迎的政府开放活动评选",
        "opens_at": _iso(timedelta(hours=-1)),
        "closes_at": _iso(timedelta(days=3)),
        "ballots_per_day": 1,
        "choices_per_ballot": 1,
        "public_weight": 0.7,
        "expert_weight": 0.3,
        "candidates": [{"title": "开放活动一", "event_id": None}],
    }


# --- the expectation table: staff pages --------------------------------------------------------

C, M, D, E, V = "consultation", "meeting", "drawn", "event", "campaign"

HTML_CASES: list[Case] = [
    # accounts and audit
    Case("GET", "/staff", ANY_STAFF),
    Case("GET", "/admin/staff", ADMIN),
    Case(
        "POST",
        "/admin/staff",
        ADMIN,
        body={"username": "matrix-new", "role": "moderator", "password": PASSWORD, "unit": ""},
    ),
    Case("POST", "/admin/staff/{id:int}", ADMIN, {"id": "target_staff"}, {"active": "1"}),
    Case("GET", "/admin/audit", ADMIN),
    # comment periods
    Case("GET", "/staff/consultations", ORGANIZERS),
    Case("GET", "/staff/consultations/new", ORGANIZERS),
    Case("POST", "/staff/consultations/new", ORGANIZERS, body=_consultation_form),
    Case("GET", "/staff/consultations/{id:int}", UNIT_A_STAFF, {"id": C}),
    Case("GET", "/staff/consultations/{id:int}/edit", UNIT_A_STAFF, {"id": "draft"}),
    Case(
        "POST",
        "/staff/consultations/{id:int}/edit",
        UNIT_A_STAFF,
        {"id": "draft"},
        _consultation_form,
    ),
    Case("POST", "/staff/consultations/{id:int}/publish", UNIT_A_STAFF, {"id": "draft"}),
    Case(
        "POST",
        "/staff/consultations/{id:int}/dispositions",
        UNIT_A_STAFF,
        {"id": C},
        lambda w: {"comment_ids": str(w["comment"]), "outcome": "adopted", "reason": ""},
    ),
    Case("POST", "/staff/consultations/{id:int}/report", UNIT_A_STAFF, {"id": C}, {"summary": ""}),
    Case(
        "POST",
        "/staff/consultations/{id:int}/faq",
        UNIT_A_STAFF,
        {"id": C},
        {"question": "收费标准何时公布？", "answer": "随办法一并公布。"},
    ),
    Case(
        "POST",
        "/staff/consultations/{id:int}/faq/{entry:int}/delete",
        UNIT_A_STAFF,
        {"id": C, "entry": "faq"},
    ),
    Case("POST", "/staff/consultations/{id:int}/attachments", UNIT_A_STAFF, {"id": C}, files=True),
    Case(
        "POST",
        "/staff/consultations/{id:int}/attachments/{att:int}/delete",
        UNIT_A_STAFF,
        {"id": C, "att": "attachment"},
    ),
    Case(
        "GET",
        "/staff/consultations/{id:int}/export.{fmt:str}",
        UNIT_A_STAFF,
        {"id": C, "fmt": "csv"},
    ),
    Case("GET", "/staff/moderation", MODERATORS),
    Case(
        "POST",
        "/staff/moderation/{id:int}",
        MODERATORS,
        {"id": "comment_pending"},
        {"decision": "publish"},
    ),
    Case("GET", "/staff/board", ORGANIZERS),
    Case("GET", "/staff/board/overdue", ADMIN),
    Case(
        "POST",
        "/staff/board/{id:int}/answer",
        UNIT_A_STAFF,
        {"id": "question"},
        {"answer": "收费标准将在办法施行前公布。"},
    ),
    Case("POST", "/staff/board/{id:int}/assign", ADMIN, {"id": "question"}, {"unit": UNIT_B}),
    # decision meetings
    Case("GET", "/staff/meetings", ORGANIZERS),
    Case("POST", "/staff/meetings", ORGANIZERS, body=_meeting_form),
    Case("GET", "/staff/meetings/overdue", ORGANIZERS),
    Case("GET", "/staff/meetings/pool", ORGANIZERS),
    Case("GET", "/staff/meetings/{id:int}", UNIT_A_STAFF, {"id": M}),
    Case(
        "POST",
        "/staff/meetings/{id:int}/applications/{app:int}/review",
        UNIT_A_STAFF,
        {"id": M, "app": "application"},
        {"decision": "qualified", "reason": ""},
    ),
    Case("POST", "/staff/meetings/{id:int}/commitment", UNIT_A_STAFF, {"id": M}),
    Case("POST", "/staff/meetings/{id:int}/draw", UNIT_A_STAFF, {"id": D}, {"seed": "1 2 3"}),
    Case(
        "POST",
        "/staff/meetings/{id:int}/invitations/{inv:int}/checkin",
        UNIT_A_STAFF,
        {"id": D, "inv": "invitation"},
    ),
    Case(
        "POST",
        "/staff/meetings/{id:int}/suggestions",
        UNIT_A_STAFF,
        {"id": D},
        lambda w: {"topic_id": str(w["topic"]), "body": "夜间停车应当免费。"},
    ),
    Case(
        "POST",
        "/staff/meetings/{id:int}/suggestions/{sug:int}/answer",
        UNIT_A_STAFF,
        {"id": D, "sug": "suggestion"},
        {"status": "adopted", "answer": "已采纳。"},
    ),
    Case(
        "POST",
        "/staff/meetings/{id:int}/summary",
        UNIT_A_STAFF,
        {"id": D},
        {"decision_summary": "会议原则通过。"},
    ),
    Case(
        "POST",
        "/staff/meetings/{id:int}/quotas",
        UNIT_A_STAFF,
        {"id": M},
        {"quotas": json.dumps({"gender": {"男": {"min": 1, "max": 2}}}, ensure_ascii=False)},
    ),
    # open month
    Case("GET", "/staff/events", ORGANIZERS),
    Case("GET", "/staff/events/new", ORGANIZERS),
    Case("POST", "/staff/events/new", ORGANIZERS, body=_event_form),
    Case(
        "POST",
        "/staff/events/publish",
        ADMIN,
        body=lambda w: {"event_id": str(w["draft_event"])},
    ),
    Case("GET", "/staff/events/{id:int}", UNIT_A_STAFF, {"id": E}),
    Case(
        "GET", "/staff/events/{id:int}/registrants.{fmt:str}", UNIT_A_STAFF, {"id": E, "fmt": "csv"}
    ),
    Case(
        "POST",
        "/staff/events/{id:int}/phone",
        UNIT_A_STAFF,
        {"id": E},
        {"name": "李四", "phone": "13800138000", "email": "", "companions": "0"},
    ),
    Case(
        "POST",
        "/staff/events/{id:int}/no-shows",
        UNIT_A_STAFF,
        {"id": E},
        lambda w: {"registration_id": str(w["registration"])},
    ),
    Case("GET", "/staff/events/{id:int}/checkin", UNIT_A_STAFF, {"id": E}),
    Case(
        "POST",
        "/staff/events/{id:int}/checkin",
        UNIT_A_STAFF,
        {"id": E},
        lambda w: {"ticket_code": w["ticket"]},
    ),
    Case(
        "POST", "/staff/events/{id:int}/cancel", UNIT_A_STAFF, {"id": E}, {"reason": "场馆检修。"}
    ),
    # vote
    Case("GET", "/staff/campaigns", ADMIN),
    Case("POST", "/staff/campaigns", ADMIN, body=_campaign_form),
    Case("GET", "/staff/campaigns/{id:int}", ADMIN, {"id": V}),
    Case(
        "POST",
        "/staff/campaigns/{id:int}/invalidations",
        ADMIN,
        {"id": V},
        lambda w: {"ballot_id": str(w["ballot"]), "reason": "同一网段集中投票。"},
    ),
    Case("GET", "/staff/reviews", REVIEWERS),
    Case("GET", "/staff/campaigns/{id:int}/scores", REVIEWERS, {"id": V}),
    Case(
        "POST",
        "/staff/campaigns/{id:int}/scores",
        REVIEWERS,
        {"id": V},
        lambda w: {f"score_{w['candidate']}": "80"},
    ),
]

# --- the expectation table: the JSON API (paths relative to /api/v1) --------------------------

API_CASES: list[Case] = [
    # identity
    Case("POST", "/auth/code", EVERYONE, body={"email": "matrix.someone@example.com"}),
    Case(
        "POST",
        "/auth/token",
        EVERYONE,
        body={"email": "matrix.nobody@example.com", "code": "000000"},
    ),
    Case(
        "POST", "/staff/token", EVERYONE, body={"username": "matrix-target", "password": PASSWORD}
    ),
    Case("GET", "/me", RESIDENT),
    Case("PUT", "/me", RESIDENT, body={"name": "张三"}),
    Case("GET", "/me/data", RESIDENT),
    # comment periods
    Case(
        "POST",
        "/consultations",
        ORGANIZERS,
        body=lambda w: {
            "title": "浦东新区公共停车场收费管理办法（征求意见稿）",
            "kind": "normative",
            "body": "为规范停车收费，制定本办法。",
            "opens_at": _iso(timedelta(days=1)),
            "closes_at": _iso(timedelta(days=40)),
            "sections": [{"title": "第一条", "body": "本区公共停车场。"}],
            "published": False,
        },
    ),
    Case("GET", "/consultations", EVERYONE),
    Case("GET", "/consultations/{id:int}", EVERYONE, {"id": C}),
    Case(
        "GET",
        "/consultations/{id:int}",
        UNIT_A_STAFF,
        {"id": "draft"},
        hidden=EVERYONE - UNIT_A_STAFF,
    ),
    Case(
        "POST", "/consultations/{id:int}/comments", RESIDENT, {"id": C}, {"body": "建议夜间免费。"}
    ),
    Case("GET", "/consultations/{id:int}/comments", EVERYONE, {"id": C}),
    Case(
        "POST",
        "/comments/{id:int}/moderation",
        MODERATORS,
        {"id": "comment_pending"},
        {"decision": "publish", "reason": ""},
    ),
    Case(
        "POST",
        "/comments/{id:int}/disposition",
        UNIT_A_STAFF,
        {"id": "comment"},
        {"outcome": "adopted", "reason": ""},
    ),
    Case("POST", "/comments/{id:int}/support", RESIDENT, {"id": "comment"}),
    Case("POST", "/consultations/{id:int}/report", UNIT_A_STAFF, {"id": C}, {"summary": ""}),
    # the report is published only after the close: before, everyone is told 404
    Case("GET", "/consultations/{id:int}/report", EVERYONE, {"id": C}, not_found_ok=True),
    # decision meetings
    Case("POST", "/meetings", ORGANIZERS, body=lambda w: meeting_body()),
    Case("GET", "/meetings", EVERYONE),
    Case("GET", "/meetings/{id:int}", EVERYONE, {"id": M}),
    Case(
        "POST",
        "/meetings/{id:int}/applications",
        RESIDENT,
        {"id": M},
        lambda w: application_body(3),
    ),
    Case(
        "POST",
        "/applications/{id:int}/review",
        UNIT_A_STAFF,
        {"id": "application"},
        {"decision": "qualified", "reason": ""},
    ),
    Case("POST", "/meetings/{id:int}/commitment", UNIT_A_STAFF, {"id": M}),
    Case("GET", "/meetings/{id:int}/commitment", EVERYONE, {"id": D}),
    Case("POST", "/meetings/{id:int}/draw", UNIT_A_STAFF, {"id": D}, {"seed": "1 2 3"}),
    Case("GET", "/meetings/{id:int}/draw", EVERYONE, {"id": D}),
    # a confirmed delegate may suggest too; the resident here is not one
    Case(
        "POST",
        "/meetings/{id:int}/suggestions",
        UNIT_A_STAFF,
        {"id": D},
        lambda w: {"topic_id": w["topic"], "body": "夜间停车应当免费。"},
    ),
    Case(
        "POST",
        "/suggestions/{id:int}/answer",
        UNIT_A_STAFF,
        {"id": "suggestion"},
        {"status": "adopted", "answer": "已采纳。"},
    ),
    Case("GET", "/meetings/{id:int}/suggestions", EVERYONE, {"id": D}),
    Case("GET", "/applications/{id:int}", RESIDENT, {"id": "application"}),
    Case(
        "PUT",
        "/applications/{id:int}",
        RESIDENT,
        {"id": "application"},
        lambda w: application_body(0, occupation="工程师"),
    ),
    Case("DELETE", "/applications/{id:int}", RESIDENT, {"id": "application"}),
    # open month
    Case("POST", "/events", ORGANIZERS, body=lambda w: _event_json()),
    Case("GET", "/events", EVERYONE),
    Case("GET", "/events/{id:int}", EVERYONE, {"id": E}),
    Case(
        "GET",
        "/events/{id:int}",
        UNIT_A_STAFF,
        {"id": "draft_event"},
        hidden=EVERYONE - UNIT_A_STAFF,
    ),
    Case("POST", "/events/{id:int}/registrations", RESIDENT, {"id": E}, {"companions": 0}),
    Case("GET", "/me/registrations", RESIDENT),
    Case("POST", "/events/{id:int}/ratings", RESIDENT, {"id": E}, {"stars": 5, "comment": "好"}),
    Case(
        "POST",
        "/checkins",
        UNIT_A_STAFF,
        body=lambda w: {"ticket_code": w["ticket"]},
    ),
    Case("POST", "/registrations/{id:int}/confirm", RESIDENT, {"id": "registration"}),
    Case("DELETE", "/registrations/{id:int}", RESIDENT, {"id": "registration"}),
    # vote
    Case("POST", "/campaigns", ADMIN, body=_campaign_json),
    Case("GET", "/campaigns", EVERYONE),
    Case("GET", "/campaigns/{id:int}", EVERYONE, {"id": V}),
    Case("GET", "/campaigns/{id:int}/challenge", EVERYONE, {"id": V}),
    Case(
        "POST",
        "/campaigns/{id:int}/ballots",
        RESIDENT,
        {"id": V},
        lambda w: {"candidate_ids": [w["candidate"]]},
    ),
    # DESIGN: the expert panel's score is a reviewer's; admins may score too
    Case(
        "POST",
        "/campaigns/{id:int}/expert-scores",
        REVIEWERS,
        {"id": V},
        lambda w: {"scores": [{"candidate_id": w["candidate"], "score": 80}]},
    ),
    Case("GET", "/campaigns/{id:int}/results", EVERYONE, {"id": V}),
    Case("GET", "/campaigns/{id:int}/anomalies", ADMIN, {"id": V}),
    Case(
        "POST",
        "/campaigns/{id:int}/invalidations",
        ADMIN,
        {"id": V},
        lambda w: {"ballot_ids": [w["ballot"]], "reason": "同一网段集中投票。"},
    ),
    # last: these end the principal's token or account
    Case("DELETE", "/auth/token", SIGNED_IN, fresh_token=True),
    Case("DELETE", "/me", RESIDENT),
]


# --- the app's own lists ------------------------------------------------------------------------


def _staff_routes(app: Any) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        if not isinstance(route, Route) or route.path.startswith("/api/"):
            continue
        if route.path.startswith(("/staff", "/admin")) and route.path != "/staff/signin":
            for method in (route.methods or set()) - {"HEAD"}:
                found.add((method, route.path))
    return found


def test_every_staff_page_and_endpoint_has_a_declared_row(app):
    """A route added without saying who may use it fails here."""
    pages = {(c.method, c.path) for c in HTML_CASES}
    assert _staff_routes(app) - pages == set(), "staff pages without an expectation"
    assert pages - _staff_routes(app) == set(), "expectations for pages that no longer exist"
    endpoints = {(ep.method, ep.path) for ep in REGISTRY}
    declared = {(c.method, c.path) for c in API_CASES}
    assert endpoints - declared == set(), "API endpoints without an expectation"
    assert declared - endpoints == set(), "expectations for endpoints that no longer exist"


# --- the world owned by unit A -----------------------------------------------------------------


async def _staff_principal(username: str) -> Principal:
    from canyu.accounts.models import Staff

    s = await Staff.get(username=username).prefetch_related("unit")
    return Principal(
        "staff",
        s.id,
        s.username,
        role=s.role,
        unit_id=s.unit.id if s.unit else None,
        unit_name=s.unit.name if s.unit else None,
    )


async def _other_residents(n: int) -> list[tuple[int, dict[str, str]]]:
    from canyu.accounts import service as accounts
    from canyu.accounts.models import Resident

    made = []
    now = clock.now()
    for i in range(n):
        email = f"matrix.other{i}@example.com"
        r = await Resident.create(
            email_hmac=accounts.email_identity(email),
            email=email,
            name=f"居民{i}",
            created_at=now,
            verified_at=now - timedelta(hours=1),
        )
        token = await accounts.issue_token(resident=r, kind="api")
        made.append((r.id, {"Authorization": f"Bearer {token}"}))
    return made


async def _post(client: Any, path: str, headers: dict[str, str], body: Any, status: int) -> Any:
    r = await client.post("/api/v1" + path, json=body, headers=headers)
    assert r.status_code == status, (path, r.status_code, r.text)
    return r.json()


async def build_world(client: Any, mailbox: Any, settings: Any) -> dict[str, Any]:
    from canyu.accounts import service as accounts
    from canyu.consultations import service as consultations
    from canyu.meetings import service as meetings
    from canyu.meetings.models import Invitation

    w: dict[str, Any] = {}
    for username, role, unit in STAFF.values():
        await accounts.create_staff(username, role, PASSWORD, unit_name=unit)
    w["target_staff"] = (await accounts.create_staff("matrix-target", "moderator", PASSWORD)).id
    org_a = await _staff_principal("matrix-org-a")

    # A meeting of unit A drawn in the past: an accepted invitation and a suggestion.
    drawn = await meetings.create_meeting(org_a, meeting_body())
    await fill_pool(drawn.id, 7)
    clock.travel(timedelta(days=5, minutes=1))
    await meetings.start_commitment(org_a, drawn.id, 120, wait=True)
    await meetings.draw_delegates(org_a, drawn.id, "42 17 3")
    invitation = await Invitation.filter(meeting_id=drawn.id).order_by("id").first()
    await meetings.respond(invitation.token, accept=True)
    topic = (await meetings.topics_of(drawn))[0]
    suggestion = await meetings.add_suggestion(
        org_a, drawn.id, {"topic_id": topic.id, "body": "补贴应覆盖低层住户。"}
    )
    w.update(drawn=drawn.id, invitation=invitation.id, topic=topic.id, suggestion=suggestion.id)

    resident = await sign_in(client, mailbox, RESIDENT_EMAIL)
    w["resident_headers"] = resident["headers"]
    admin = await staff_headers(client, "matrix-admin", "admin")
    org_a_headers = await staff_headers(client, "matrix-org-a", "organizer", UNIT_A)
    others = await _other_residents(2)

    # A comment period of unit A: a pending and a published comment, FAQ, attachment, board.
    c = await make_consultation(client, org_a_headers)
    w["consultation"] = c["id"]
    w["draft"] = (
        await make_consultation(
            client,
            org_a_headers,
            published=False,
            opens_at=_iso(timedelta(days=2)),
            closes_at=_iso(timedelta(days=30)),
        )
    )["id"]
    path = f"/consultations/{c['id']}/comments"
    w["comment_pending"] = (
        await _post(client, path, others[0][1], {"body": "请公布测算依据。"}, 201)
    )["id"]
    w["comment"] = (await _post(client, path, others[1][1], {"body": "补贴标准偏低。"}, 201))["id"]
    await _post(client, f"/comments/{w['comment']}/moderation", admin, {"decision": "publish"}, 200)
    w["faq"] = (await consultations.add_faq(org_a, c["id"], "何时施行？", "公布后三十日。")).id
    w["attachment"] = (
        await consultations.add_attachment(org_a, c["id"], "说明.pdf", PDF, settings.upload_dir)
    ).id
    asker = Principal("resident", others[0][0], "居民0")
    w["question"] = (await consultations.ask_question(asker, c["id"], "老小区是否适用？")).id

    # A meeting of unit A open for applications, with the resident's application.
    w["meeting"] = (await _post(client, "/meetings", org_a_headers, meeting_body(), 201))["id"]
    w["application"] = (
        await _post(
            client,
            f"/meetings/{w['meeting']}/applications",
            resident["headers"],
            application_body(0),
            201,
        )
    )["id"]

    # An open-month event of unit A with the resident's registration, and a draft event.
    w["event"] = (await _post(client, "/events", org_a_headers, _event_json(), 201))["id"]
    registration = await _post(
        client, f"/events/{w['event']}/registrations", resident["headers"], {"companions": 0}, 201
    )
    w["registration"], w["ticket"] = registration["id"], registration["ticket_code"]
    assert w["ticket"], registration
    w["draft_event"] = (
        await _post(client, "/events", org_a_headers, _event_json(published=False), 201)
    )["id"]

    # A vote campaign with one ballot.
    campaign = await _post(client, "/campaigns", admin, _campaign_json(w), 201)
    w["campaign"], w["candidate"] = campaign["id"], campaign["candidates"][0]["id"]
    w["ballot"] = (
        await _post(
            client,
            f"/campaigns/{campaign['id']}/ballots",
            resident["headers"],
            {"candidate_ids": [w["candidate"]]},
            201,
        )
    )["id"]
    return w


# --- malformed bodies --------------------------------------------------------------------------

def _endpoint(case: Case) -> Any:
    return next(ep for ep in REGISTRY if (ep.method, ep.path) == (case.method, case.path))


def _role_of(who: str) -> str | None:
    return "resident" if who == "resident" else STAFF[who][1] if who in STAFF else None


def test_staff_endpoints_name_their_roles(app):
    """Each staff endpoint names the roles that may call it, so the API refuses any other caller
    before reading the body; the roles of the principals allowed below are among them."""
    for case in API_CASES:
        ep = _endpoint(case)
        if ep.roles is None:
            assert ep.auth != "staff", (ep.method, ep.path)
            continue
        assert {_role_of(who) for who in case.allowed} <= ep.roles, (ep.method, ep.path)


def _body_checked_first(who: str, case: Case, r: Any) -> bool:
    """A malformed body refused by the schema (422 ``invalid_request``) is acceptable from a
    caller whose role may use the endpoint and who is refused only for the object acted on (the
    other unit's organizer, a resident who is not a delegate): the schema is checked before any
    lookup, so the answer is the same for every id and tells nothing about the object. From a
    caller whose role may not use the endpoint at all, it is not."""
    if r.status_code != 422 or r.json()["error"]["code"] != "invalid_request":
        return False
    ep = _endpoint(case)
    return ep.roles is not None and _role_of(who) in ep.roles


# --- asking ------------------------------------------------------------------------------------


async def _fingerprint() -> str:
    """A digest of every row of every table (small here): "nothing changed" made checkable."""
    digest = hashlib.sha256()
    for models in Tortoise.apps.values():
        for name in sorted(models):
            meta = models[name]._meta
            pk = meta.fields_map[meta.pk_attr].source_field or meta.pk_attr
            _, rows = await meta.db.execute_query(
                f'SELECT * FROM "{meta.db_table}" ORDER BY "{pk}"'
            )
            digest.update(f"{meta.db_table}:{[tuple(dict(r).values()) for r in rows]!r}".encode())
    return digest.hexdigest()


def _refused(status: int, location: str, who: str, case: Case) -> bool:
    if status in (401, 403):
        return True
    # hidden from it: a draft, or (for the other unit's organizer) an object of unit A
    other_units = who == "organizer_b" and "organizer_a" in case.allowed
    if status == 404 and (who in case.hidden or other_units):
        return True
    # an anonymous visit to a staff page is sent to the sign-in form
    return status == 303 and who == "anonymous" and location.startswith("/staff/signin")


def _passed(status: int, location: str, case: Case) -> bool:
    if status in (401, 403) or status >= 500:
        return False
    if status == 404:
        return case.not_found_ok
    return not (status in (302, 303) and "signin" in location)


async def _html_client_for(who: str, client: Any, mailbox: Any) -> str:
    if who == "resident":
        # the code is read from the last mail: let the earlier ones go first
        await mailbox.deliver()
        mailbox.clear()
        await html_sign_in(client, mailbox, RESIDENT_EMAIL)
    elif who in STAFF:
        await html_staff_sign_in(client, *STAFF[who])
    token = csrf_of((await client.get("/")).text)
    # the token is good: a refusal below is about who asks, never about CSRF
    ok = await client.post("/prefs/large-text", data={"csrf_token": token, "large": "0"})
    assert ok.status_code in (200, 303), ok.status_code
    return token


async def _api_headers_for(who: str, client: Any, world: dict[str, Any]) -> dict[str, str]:
    if who == "anonymous":
        return {}
    if who == "resident":
        return world["resident_headers"]
    return await staff_headers(client, *STAFF[who])


async def _fresh_headers(who: str, client: Any) -> dict[str, str]:
    from canyu.accounts import service as accounts
    from canyu.accounts.models import Resident, Staff

    if who == "resident":
        resident = await Resident.get(email_hmac=accounts.email_identity(RESIDENT_EMAIL))
        token = await accounts.issue_token(resident=resident, kind="api")
    else:
        token = await accounts.issue_token(staff=await Staff.get(username=STAFF[who][0]))
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("who", PRINCIPALS)
async def test_only_the_declared_principals_pass(who, app, client, mailbox, settings):
    world = await build_world(client, mailbox, settings)
    problems: list[str] = []

    # staff pages, through the browser session
    token = await _html_client_for(who, client, mailbox)
    for case in HTML_CASES:
        path = case.concrete(world)
        data = {"csrf_token": token, **(case.values(world) or {})} if case.method != "GET" else None
        files = {"attachment": ("说明.pdf", PDF, "application/pdf")} if case.files else None
        before = await _fingerprint() if case.method != "GET" and who not in case.allowed else ""
        r = await client.request(
            case.method, path, data=data, files=files, headers={"X-CSRF-Token": token}
        )
        problems += await _judge(who, case, path, r, before)

    # the JSON API, with a bearer token
    headers = await _api_headers_for(who, client, world)
    for case in API_CASES:
        path = "/api/v1" + case.concrete(world)
        asking = await _fresh_headers(who, client) if case.fresh_token and headers else headers
        before = await _fingerprint() if case.method != "GET" and who not in case.allowed else ""
        r = await client.request(case.method, path, json=case.values(world), headers=asking)
        problems += await _judge(who, case, path, r, before)
        if who not in case.allowed and case.method in ("POST", "PUT", "PATCH"):
            r = await client.request(case.method, path, json={"matrix": 1}, headers=asking)
            if not _body_checked_first(who, case, r):
                problems += await _judge(who, case, path + " (malformed body)", r, before)

    assert not problems, f"{who}:\n" + "\n".join(problems)


async def _judge(who: str, case: Case, path: str, r: Any, before: str) -> list[str]:
    location = r.headers.get("location", "")
    where = f"{case.method} {path} -> {r.status_code} {location}".rstrip()
    if who in case.allowed:
        return [] if _passed(r.status_code, location, case) else [f"should pass: {where}"]
    out = [] if _refused(r.status_code, location, who, case) else [f"should be refused: {where}"]
    if before and await _fingerprint() != before:
        out.append(f"refused but changed data: {where}")
    return out
