"""评选 (the October vote): campaigns, ballots, expert scores, anomalies and results.

Every rule is exact under concurrency because a database unique constraint decides it: a
ballot takes one of the ``ballots_per_day`` slots of (campaign, identity, local day), and the
unique key on those four columns refuses a second taker. Counts are ``COUNT`` over valid
ballots, never a counter read inside a write."""

from __future__ import annotations

import base64
import functools
import importlib
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.functions import Avg, Count
from tortoise.transactions import in_transaction

from canyu.accounts import service as accounts
from canyu.audit import service as audit
from canyu.core import clock, sql
from canyu.core.errors import Conflict, DomainError, NotFound
from canyu.core.permissions import Principal, authorize, require_resident
from canyu.core.ratelimit import limiter, network_of
from canyu.core.security import keyed_hash
from canyu.voting.models import (
    Ballot,
    BallotAudit,
    BallotChoice,
    Campaign,
    Candidate,
    ExpertScore,
    PowUse,
)

MAX_CANDIDATES = 100
MAX_BALLOTS_PER_DAY = 50
IDENTITY_RATE = "10/minute"
NETWORK_RATE = "300/minute"
POW_TTL = timedelta(minutes=10)

# Anomaly report thresholds.
BURST_MIN = 10
BURST_FACTOR = 5.0
CLUSTER_MIN = 20
QUICK_SECONDS = 30
MAX_LISTED = 200

#: Throw-away mail services (international and Chinese).
DISPOSABLE_DOMAINS = frozenset(
    {
        "mailinator.com",
        "10minutemail.com",
        "guerrillamail.com",
        "guerrillamail.info",
        "sharklasers.com",
        "yopmail.com",
        "tempmail.com",
        "temp-mail.org",
        "trashmail.com",
        "getnada.com",
        "dispostable.com",
        "maildrop.cc",
        "fakeinbox.com",
        "throwawaymail.com",
        "mohmal.com",
        "emailondeck.com",
        "burnermail.io",
        "mintemail.com",
        "spamgourmet.com",
        "linshiyouxiang.net",
        "bccto.me",
        "chacuo.net",
        "027168.com",
        "tempmail.plus",
        "mail.tm",
        "moakt.com",
        "tmpmail.org",
        "emailtemporanea.net",
    }
)


# --- small helpers ----------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def status_of(campaign: Campaign, now: datetime | None = None) -> str:
    """``upcoming``, ``open`` or ``closed``: the window on the server's clock."""
    now = now or clock.now()
    if now < _aware(campaign.opens_at):
        return "upcoming"
    if now < _aware(campaign.closes_at):
        return "open"
    return "closed"


def results_published(campaign: Campaign, now: datetime | None = None) -> bool:
    """Totals stay hidden from everyone, staff included, until the close (and publication)."""
    now = now or clock.now()
    if now < _aware(campaign.closes_at):
        return False
    return campaign.results_at is None or now >= _aware(campaign.results_at)


def _openmonth() -> Any:
    try:
        return importlib.import_module("canyu.openmonth.service")
    except ModuleNotFoundError:
        return None


async def event_brief(event_id: int) -> dict[str, Any] | None:
    """The open-month event's brief (title, summary, rating), when that feature provides it."""
    module = _openmonth()
    fn = getattr(module, "event_brief", None) if module else None
    if fn is None:
        return None
    return await fn(event_id)


async def event_briefs(ids: list[int]) -> dict[int, dict[str, Any]]:
    module = _openmonth()
    fn = getattr(module, "event_briefs", None) if module else None
    if fn is None or not ids:
        return {}
    found = await fn(ids)
    if isinstance(found, dict):
        return {int(k): v for k, v in found.items() if v}
    return {int(b["id"]): b for b in found or [] if b and "id" in b}


@dataclass(frozen=True)
class Verification:
    """What the vote needs to know about a resident's verified identity."""

    identity_hmac: str
    verified_at: datetime
    mail_domain: str


async def verification_of(resident_id: int, known: Any = None) -> Verification:
    """The identity (HMAC of the verified address) and when it was last verified (``known``:
    the resident's record already read with the token, see ``Principal.profile``)."""
    row = await accounts.own_record(resident_id, known)
    domain = row["email"].rpartition("@")[2].strip().lower()
    verified_at = sql.moment(row["verified_at"])
    assert verified_at is not None
    return Verification(row["email_hmac"], verified_at, domain)


async def get_campaign(campaign_id: int) -> Campaign:
    campaign = await Campaign.get_or_none(id=campaign_id)
    if campaign is None:
        raise NotFound("找不到这个评选。")
    return campaign


async def candidates_of(campaign_id: int) -> list[Candidate]:
    return await Candidate.filter(campaign_id=campaign_id).order_by("position", "id")


async def list_campaigns() -> list[Campaign]:
    return await Campaign.all().order_by("-opens_at", "-id")


async def open_campaigns() -> list[Campaign]:
    now = clock.now()
    return await Campaign.filter(opens_at__lte=now, closes_at__gt=now).order_by("closes_at")


# --- campaigns ---------------------------------------------------------------------------


_BAD_CHARS = re.compile(r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text(value: Any, name: str, limit: int, *, required: bool = True) -> str:
    text = "" if value is None else str(value).strip()
    if _BAD_CHARS.search(text):
        raise DomainError(
            "invalid_" + name, "%(label)s含有无法识别的字符。", 422, field=name, label=_LABELS[name]
        )
    if required and not text:
        raise DomainError(
            "invalid_" + name, "请填写%(label)s。", 422, field=name, label=_LABELS[name]
        )
    if len(text) > limit:
        raise DomainError(
            "invalid_" + name,
            "%(label)s不能超过 %(limit)s 个字。",
            422,
            field=name,
            label=_LABELS[name],
            limit=limit,
        )
    return text


_LABELS = {
    "title": "标题",
    "rules": "评选规则",
    "reason": "作废理由",
    "candidate": "候选活动名称",
    "photo_url": "图片地址",
}


def _photo(value: Any) -> str:
    """Only a same-site image path (the CSP allows images from this site only)."""
    text = _text(value, "photo_url", 300, required=False)
    if text and not re.fullmatch(r"/[A-Za-z0-9._~/%-]*", text):
        raise DomainError("invalid_photo_url", "图片地址须为本站的路径。", 422, field="candidates")
    return text


async def create_campaign(actor: Principal, data: dict[str, Any]) -> Campaign:
    """Admins create a campaign: window, daily ballots, choices per ballot, weights, candidates.

    Weights are between 0 and 1 and add up to 1. Candidates are open-month events (by id, with
    their brief when the open-month feature gives it) or free entries.
    """
    authorize(actor, {"admin"})
    title = _text(data.get("title"), "title", 120)
    rules = _text(data.get("rules"), "rules", 5000, required=False)
    opens_at, closes_at = data.get("opens_at"), data.get("closes_at")
    if not isinstance(opens_at, datetime) or not isinstance(closes_at, datetime):
        raise DomainError("invalid_window", "请填写投票开始和截止时间。", 422, field="opens_at")
    opens_at, closes_at = _aware(opens_at), _aware(closes_at)
    if closes_at <= opens_at:
        raise DomainError("invalid_window", "截止时间必须晚于开始时间。", 422, field="closes_at")
    results_at = data.get("results_at")
    if results_at is not None:
        if not isinstance(results_at, datetime):
            raise DomainError("invalid_results_at", "结果公布时间无效。", 422, field="results_at")
        results_at = _aware(results_at)
        if results_at < closes_at:
            raise DomainError(
                "invalid_results_at", "结果公布时间不能早于投票截止时间。", 422, field="results_at"
            )
    per_day = data.get("ballots_per_day", 1)
    choices = data.get("choices_per_ballot", 1)
    if not isinstance(per_day, int) or not 1 <= per_day <= MAX_BALLOTS_PER_DAY:
        raise DomainError(
            "invalid_ballots_per_day",
            "每天可投票数须为 1 到 50 之间的整数。",
            422,
            field="ballots_per_day",
        )
    if not isinstance(choices, int) or not 1 <= choices <= MAX_CANDIDATES:
        raise DomainError(
            "invalid_choices_per_ballot",
            "每张选票可选数量须为 1 到 100 之间的整数。",
            422,
            field="choices_per_ballot",
        )
    pw, ew = data.get("public_weight", 0.7), data.get("expert_weight", 0.3)
    try:
        pw, ew = float(pw), float(ew)
    except (TypeError, ValueError):
        raise DomainError(
            "invalid_weights", "权重须为 0 到 1 之间的数字。", 422, field="public_weight"
        ) from None
    if not (0 <= pw <= 1 and 0 <= ew <= 1) or not math.isclose(pw + ew, 1.0, abs_tol=1e-6):
        raise DomainError(
            "invalid_weights",
            "公众投票与专家评审的权重须在 0 到 1 之间，且合计为 1。",
            422,
            field="public_weight",
        )
    raw = data.get("candidates") or []
    if not isinstance(raw, list) or not raw:
        raise DomainError("no_candidates", "请至少添加一个候选活动。", 422, field="candidates")
    if len(raw) > MAX_CANDIDATES:
        raise DomainError(
            "too_many_candidates", "候选活动不能超过 100 个。", 422, field="candidates"
        )
    for item in raw:
        event_id = item.get("event_id") if isinstance(item, dict) else None
        if event_id is not None and (
            not isinstance(event_id, int)
            or isinstance(event_id, bool)
            or not 0 < event_id < 2**31
        ):
            raise DomainError("invalid_event_id", "开放活动编号无效。", 422, field="candidates")
    event_ids = [int(c["event_id"]) for c in raw if isinstance(c, dict) and c.get("event_id")]
    if len(set(event_ids)) != len(event_ids):
        raise DomainError(
            "duplicate_event", "同一个开放活动不能重复列为候选。", 422, field="candidates"
        )
    briefs = await event_briefs(event_ids)
    rows = []
    for position, item in enumerate(raw):
        if not isinstance(item, dict):
            raise DomainError("invalid_candidate", "候选活动格式无效。", 422, field="candidates")
        event_id = item.get("event_id")
        if event_id is not None and (not isinstance(event_id, int) or event_id <= 0):
            raise DomainError("invalid_event_id", "开放活动编号无效。", 422, field="candidates")
        brief = briefs.get(event_id) if event_id else None
        name = item.get("title") or (brief or {}).get("title")
        rows.append(
            {
                "title": _text(name, "candidate", 120),
                "summary": _text(
                    item.get("summary") or (brief or {}).get("summary") or "",
                    "rules",
                    2000,
                    required=False,
                ),
                "event_id": event_id,
                "photo_url": _photo(item.get("photo_url") or (brief or {}).get("photo_url")),
                "average_rating": (brief or {}).get("average_rating"),
                "rating_count": int((brief or {}).get("rating_count") or 0),
                "position": position,
            }
        )
    titles = [r["title"] for r in rows]
    if len(set(titles)) != len(titles):
        raise DomainError("duplicate_candidate", "候选活动名称不能重复。", 422, field="candidates")
    async with in_transaction():
        campaign = await Campaign.create(
            title=title,
            rules=rules,
            opens_at=opens_at,
            closes_at=closes_at,
            results_at=results_at,
            ballots_per_day=per_day,
            choices_per_ballot=choices,
            public_weight=pw,
            expert_weight=ew,
            created_by=actor.id,
            created_at=clock.now(),
        )
        await Candidate.bulk_create([Candidate(campaign_id=campaign.id, **row) for row in rows])
        await audit.record(
            "vote.campaign_created",
            actor,
            target_type="campaign",
            target_id=campaign.id,
            title=title,
            candidates=len(rows),
        )
    return campaign


async def campaign_view(campaign: Campaign) -> dict[str, Any]:
    """The public description of a campaign and its candidates (no totals)."""
    candidates = await candidates_of(campaign.id)
    live = await event_briefs([c.event_id for c in candidates if c.event_id])
    items = []
    for c in candidates:
        brief = live.get(c.event_id or 0) or {}
        items.append(
            {
                "id": c.id,
                "title": c.title,
                "summary": c.summary,
                "event_id": c.event_id,
                "photo_url": c.photo_url,
                "average_rating": brief.get("average_rating", c.average_rating),
                "rating_count": brief.get("rating_count", c.rating_count),
            }
        )
    return {
        "id": campaign.id,
        "title": campaign.title,
        "rules": campaign.rules,
        "opens_at": _aware(campaign.opens_at),
        "closes_at": _aware(campaign.closes_at),
        "results_at": _aware(campaign.results_at) if campaign.results_at else None,
        "ballots_per_day": campaign.ballots_per_day,
        "choices_per_ballot": campaign.choices_per_ballot,
        "public_weight": campaign.public_weight,
        "expert_weight": campaign.expert_weight,
        "status": status_of(campaign),
        "results_published": results_published(campaign),
        "candidates": items,
    }


# --- proof of work (ALTCHA) ---------------------------------------------------------------


def _pow_key() -> str:
    return keyed_hash("altcha", "challenge")


def new_challenge(difficulty: int) -> dict[str, Any]:
    """An ALTCHA challenge (v1 protocol, SHA-256) whose work is about ``difficulty`` hashes."""
    from altcha import create_challenge_v1

    challenge = create_challenge_v1(
        hmac_key=_pow_key(), max_number=max(1, difficulty), expires=clock.now() + POW_TTL
    )
    return challenge.to_dict()


def _pow_error() -> DomainError:
    return DomainError(
        "pow_failed", "人机验证未通过或已过期，请重新验证后再投票。", 422, field="altcha"
    )


def check_pow(payload: Any, difficulty: int) -> tuple[str, str | None]:
    """(result, signature): ``off`` when the difficulty is 0, ``ok`` for a valid fresh solution."""
    if difficulty <= 0:
        return "off", None
    if not isinstance(payload, str) or not payload or len(payload) > 4000:
        raise DomainError(
            "pow_required", "请先完成人机验证（“我不是机器人”）。", 422, field="altcha"
        )
    from altcha import verify_solution_v1

    try:
        data = json.loads(base64.b64decode(payload, validate=True).decode())
        ok, _ = verify_solution_v1(data, _pow_key(), check_expires=False)
        salt = str(data["salt"])
        expires = dict(p.split("=", 1) for p in salt.split("?", 1)[1].split("&") if "=" in p)
        expired = int(expires["expires"]) < clock.now().timestamp()
    except (ValueError, TypeError, KeyError, IndexError):
        raise _pow_error() from None
    if not ok or expired:
        raise _pow_error()
    return "ok", str(data["signature"])[:128]


# --- ballots -------------------------------------------------------------------------------


def _clean_choices(candidate_ids: Any, limit: int) -> list[int]:
    if not isinstance(candidate_ids, list) or not candidate_ids:
        raise DomainError("no_choice", "请至少选择一个候选活动。", 422, field="candidate_ids")
    if any(not isinstance(i, int) or isinstance(i, bool) for i in candidate_ids):
        raise DomainError("unknown_candidate", "所选的候选活动不存在。", 422, field="candidate_ids")
    if len(set(candidate_ids)) != len(candidate_ids):
        raise DomainError(
            "repeated_choice", "同一张选票不能重复选择同一个候选活动。", 422, field="candidate_ids"
        )
    if len(candidate_ids) > limit:
        raise DomainError(
            "too_many_choices",
            "每张选票最多选择 %(limit)s 个候选活动。",
            422,
            field="candidate_ids",
            limit=limit,
        )
    return list(candidate_ids)


def _agent_hash(user_agent: str) -> str:
    return keyed_hash("vote-agent", (user_agent or "")[:512])[:32]


def _network_hash(ip: str) -> str:
    return keyed_hash("vote-network", network_of(ip))[:32]


#: (connection, campaign id) -> (campaign, candidate ids). A campaign and its candidates never
#: change after creation, so each process keeps them once per database connection.
_RULES_CACHE: dict[tuple[Any, int], tuple[Campaign, frozenset[int]]] = {}


async def _ballot_rules(campaign_id: int) -> tuple[Campaign, frozenset[int]]:
    from tortoise import connections

    key = (connections.get("default"), campaign_id)
    cached = _RULES_CACHE.get(key)
    if cached is None:
        campaign = await get_campaign(campaign_id)
        ids = await Candidate.filter(campaign_id=campaign_id).values_list("id", flat=True)
        if len(_RULES_CACHE) > 1000:
            _RULES_CACHE.clear()
        cached = _RULES_CACHE[key] = (campaign, frozenset(int(i) for i in ids))
    return cached


@functools.cache
def _choices_sql(n: int) -> str:
    """One INSERT for the n choices of a ballot (n is a small count, never input text)."""
    rows = ", ".join(["(?, ?, ?)"] * n)
    return f"INSERT INTO vote_choice (ballot_id, candidate_id, campaign_id) VALUES {rows}"  # noqa: S608


async def cast_ballot(
    actor: Principal | None,
    campaign_id: int,
    candidate_ids: Any,
    *,
    ip: str = "",
    user_agent: str = "",
    pow_payload: Any = None,
    pow_difficulty: int = 0,
) -> Ballot:
    """A verified resident casts a ballot.

    Inside the window only (422), with distinct candidates of this campaign, at most
    ``choices_per_ballot`` (422), and at most ``ballots_per_day`` per identity and calendar day
    in ``CANYU_TIMEZONE`` (409): the ballot takes a free slot under the unique key
    (campaign, identity, local day, slot). Rate limited per identity and per /24 network (429).
    Leaves an audit row with pseudonymous signals and no raw IP.
    """
    me = require_resident(actor)
    await limiter().hit("ballot-identity", IDENTITY_RATE, str(me.id))
    await limiter().hit("ballot-network", NETWORK_RATE, network_of(ip))
    campaign, candidate_set = await _ballot_rules(campaign_id)
    now = clock.now()
    if status_of(campaign, now) != "open":
        raise DomainError("outside_window", "现在不在投票时间内。", 422)
    ids = _clean_choices(candidate_ids, campaign.choices_per_ballot)
    if not candidate_set.issuperset(ids):
        raise DomainError(
            "unknown_candidate", "所选的候选活动不属于这个评选。", 422, field="candidate_ids"
        )
    pow_result, signature = check_pow(pow_payload, pow_difficulty)
    who = await verification_of(me.id, me.profile)
    audit_values = {
        "network_hash": _network_hash(ip),
        "agent_hash": _agent_hash(user_agent),
        "seconds_since_verification": max(0, int((now - who.verified_at).total_seconds())),
        "pow_result": pow_result,
        "disposable_domain": who.mail_domain in DISPOSABLE_DOMAINS,
    }
    return await sql.run(_ballot_program(campaign, ids, who, me.id, now, signature, audit_values))


_CAST_TODAY_SQL = (
    "SELECT COUNT(*) AS n FROM vote_ballot "
    "WHERE campaign_id = ? AND identity_hmac = ? AND local_day = ?"
)


def _ballot_program(
    campaign: Campaign,
    ids: list[int],
    who: Verification,
    resident_id: int,
    now: datetime,
    signature: str | None,
    audit_values: dict[str, Any],
) -> sql.Program[Ballot]:
    """One ballot as one transaction (``core.sql.run``; every ballot of the vote passes
    here): the proof of work spent once, the ballot in the first free slot of the day under
    the unique key (campaign, identity, local day, slot) (a slot taken meanwhile by a
    concurrent ballot is skipped, never counted twice), its choices and its audit row."""
    if signature:
        spent = yield sql.insert_statement(
            PowUse, {"signature": signature, "used_at": now}, skip_conflict=True
        )
        if not spent:
            raise _pow_error()
    day = clock.local(now).date()
    start = 0
    if campaign.ballots_per_day > 1:
        # Only a hint of where to start: the unique key, not this count, decides.
        counted = yield sql.rows(_CAST_TODAY_SQL, campaign.id, who.identity_hmac, day)
        start = int(counted[0]["n"])
    stored: list[dict[str, Any]] = []
    for slot in range(start, campaign.ballots_per_day):
        stored = yield sql.insert_statement(
            Ballot,
            {
                "campaign_id": campaign.id,
                "identity_hmac": who.identity_hmac,
                "resident_id": resident_id,
                "local_day": day,
                "slot": slot,
                "cast_at": now,
            },
            returning=True,
            skip_conflict=True,
        )
        if stored:
            break
    if not stored:
        raise Conflict(
            "daily_limit",
            "您今天在这个评选中的投票次数已用完，请明天再来。",
            limit=campaign.ballots_per_day,
        )
    ballot = sql.from_row(Ballot, stored[0])
    yield sql.together(
        sql.changes(
            _choices_sql(len(ids)), *[v for cid in ids for v in (ballot.id, cid, campaign.id)]
        ),
        sql.insert_statement(
            BallotAudit, {"ballot_id": ballot.id, "campaign_id": campaign.id, **audit_values}
        ),
    )
    return ballot


async def ballots_today(resident_id: int, campaign: Campaign) -> int:
    """How many ballots the resident cast in this campaign today (Asia/Shanghai day)."""
    return await Ballot.filter(
        campaign_id=campaign.id, resident_id=resident_id, local_day=clock.today()
    ).count()


async def my_choices_today(resident_id: int, campaign: Campaign) -> list[str]:
    rows = await BallotChoice.filter(
        campaign_id=campaign.id, ballot__resident_id=resident_id, ballot__local_day=clock.today()
    ).values_list("candidate__title", flat=True)
    return list(rows)


# --- expert panel ----------------------------------------------------------------------------


async def submit_expert_scores(actor: Principal, campaign_id: int, scores: Any) -> int:
    """专家评审: a reviewer (or admin) scores candidates 0–100; a new score replaces their old one.

    The expert score of a candidate is the mean of its reviewers' scores.
    """
    authorize(actor, {"admin", "reviewer"})
    campaign = await get_campaign(campaign_id)
    if not isinstance(scores, list) or not scores:
        raise DomainError("no_scores", "请至少为一个候选活动打分。", 422, field="scores")
    clean: dict[int, float] = {}
    for item in scores:
        cid = item.get("candidate_id") if isinstance(item, dict) else None
        score = item.get("score") if isinstance(item, dict) else None
        if not isinstance(cid, int) or isinstance(cid, bool):
            raise DomainError(
                "unknown_candidate", "所评分的候选活动不属于这个评选。", 422, field="scores"
            )
        if (
            isinstance(score, bool)
            or not isinstance(score, int | float)
            or not math.isfinite(score)
        ):
            raise DomainError(
                "invalid_score", "评分须为 0 到 100 之间的数字。", 422, field="scores"
            )
        if not 0 <= score <= 100:
            raise DomainError(
                "invalid_score", "评分须为 0 到 100 之间的数字。", 422, field="scores"
            )
        if cid in clean:
            raise DomainError(
                "repeated_candidate", "同一个候选活动只能评一个分。", 422, field="scores"
            )
        clean[cid] = float(score)
    known = await Candidate.filter(campaign_id=campaign.id, id__in=list(clean)).count()
    if known != len(clean):
        raise DomainError(
            "unknown_candidate", "所评分的候选活动不属于这个评选。", 422, field="scores"
        )
    now = clock.now()
    async with in_transaction():
        for cid, score in clean.items():
            changed = await ExpertScore.filter(candidate_id=cid, reviewer_id=actor.id).update(
                score=score, updated_at=now
            )
            if not changed:
                try:
                    async with in_transaction():
                        await ExpertScore.create(
                            campaign_id=campaign.id,
                            candidate_id=cid,
                            reviewer_id=actor.id,
                            reviewer_label=actor.name[:80],
                            score=score,
                            updated_at=now,
                        )
                except IntegrityError:
                    await ExpertScore.filter(candidate_id=cid, reviewer_id=actor.id).update(
                        score=score, updated_at=now
                    )
        await audit.record(
            "vote.expert_scored",
            actor,
            target_type="campaign",
            target_id=campaign.id,
            candidates=len(clean),
        )
    return len(clean)


async def my_expert_scores(actor: Principal, campaign_id: int) -> dict[int, float]:
    authorize(actor, {"admin", "reviewer"})
    rows = await ExpertScore.filter(campaign_id=campaign_id, reviewer_id=actor.id).values_list(
        "candidate_id", "score"
    )
    return {int(cid): float(score) for cid, score in rows}


# --- invalidation and anomalies -----------------------------------------------------------


async def invalidate_ballots(
    actor: Principal, campaign_id: int, ballot_ids: Any, reason: Any
) -> int:
    """Admins invalidate ballots with a reason; nothing is deleted, the count is published."""
    authorize(actor, {"admin"})
    campaign = await get_campaign(campaign_id)
    reason = _text(reason, "reason", 200)
    if not isinstance(ballot_ids, list) or not ballot_ids:
        raise DomainError("no_ballots", "请选择要作废的选票。", 422, field="ballot_ids")
    if (
        any(not isinstance(i, int) or isinstance(i, bool) for i in ballot_ids)
        or len(ballot_ids) > 5000
    ):
        raise DomainError("invalid_ballots", "选票编号无效。", 422, field="ballot_ids")
    known = await Ballot.filter(campaign_id=campaign.id, id__in=ballot_ids).count()
    if known != len(set(ballot_ids)):
        raise DomainError("unknown_ballot", "有选票不属于这个评选。", 422, field="ballot_ids")
    async with in_transaction():
        changed = await Ballot.filter(
            campaign_id=campaign.id, id__in=ballot_ids, invalidated_at__isnull=True
        ).update(invalidated_at=clock.now(), invalidation_reason=reason, invalidated_by=actor.id)
        await audit.record(
            "vote.ballots_invalidated",
            actor,
            target_type="campaign",
            target_id=campaign.id,
            ballots=sorted(set(ballot_ids))[:500],
            changed=changed,
            reason=reason,
        )
    return changed


async def invalidated_count(campaign_id: int) -> int:
    return await Ballot.filter(campaign_id=campaign_id, invalidated_at__isnull=False).count()


async def anomaly_report(actor: Principal, campaign_id: int) -> dict[str, Any]:
    """Signals for admins: bursts per candidate per minute against the campaign baseline,
    /24-network and user-agent clusters, ballots seconds after verification, disposable mail.

    It shows per-minute bursts and cluster sizes, never the candidates' totals.
    """
    authorize(actor, {"admin"})
    campaign = await get_campaign(campaign_id)
    audits = await BallotAudit.filter(
        campaign_id=campaign.id, ballot__invalidated_at__isnull=True
    ).values(
        "ballot_id",
        "network_hash",
        "agent_hash",
        "seconds_since_verification",
        "disposable_domain",
        "ballot__identity_hmac",
    )
    choices = await BallotChoice.filter(
        campaign_id=campaign.id, ballot__invalidated_at__isnull=True
    ).values_list("candidate_id", "ballot_id", "ballot__cast_at")
    titles = dict(await Candidate.filter(campaign_id=campaign.id).values_list("id", "title"))

    # Bursts: choices of one candidate within one minute, against that candidate's mean rate.
    per_minute: dict[tuple[int, datetime], list[int]] = defaultdict(list)
    per_candidate: Counter[int] = Counter()
    first: datetime | None = None
    for cid, bid, cast_at in choices:
        cast_at = _aware(cast_at)
        minute = cast_at.replace(second=0, microsecond=0)
        per_minute[(cid, minute)].append(bid)
        per_candidate[cid] += 1
        first = cast_at if first is None or cast_at < first else first
    end = min(clock.now(), _aware(campaign.closes_at))
    # The baseline is the candidate's mean rate per minute since the campaign opened.
    start = _aware(campaign.opens_at)
    if first is not None and first < start:
        start = first
    span = max(1.0, (end - start).total_seconds() / 60)
    bursts = []
    for (cid, minute), bids in per_minute.items():
        baseline = per_candidate[cid] / span
        if len(bids) >= BURST_MIN and len(bids) >= BURST_FACTOR * baseline:
            bursts.append(
                {
                    "candidate_id": cid,
                    "candidate": titles.get(cid, ""),
                    "minute": minute,
                    "count": len(bids),
                    "baseline": round(baseline, 2),
                    "ballot_ids": sorted(bids)[:MAX_LISTED],
                }
            )
    bursts.sort(key=lambda b: -b["count"])

    def clusters(key: str) -> list[dict[str, Any]]:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in audits:
            groups[row[key]].append(row)
        found = [
            {
                "key": k[:12],
                "count": len(rows),
                "identities": len({r["ballot__identity_hmac"] for r in rows}),
                "ballot_ids": sorted(r["ballot_id"] for r in rows)[:MAX_LISTED],
            }
            for k, rows in groups.items()
            if len(rows) >= CLUSTER_MIN
        ]
        return sorted(found, key=lambda c: -c["count"])[:20]

    quick = sorted(
        r["ballot_id"] for r in audits if r["seconds_since_verification"] < QUICK_SECONDS
    )
    disposable = sorted(r["ballot_id"] for r in audits if r["disposable_domain"])
    return {
        "valid_ballots": len(audits),
        "invalidated": await invalidated_count(campaign.id),
        "bursts": bursts[:50],
        "networks": clusters("network_hash"),
        "agents": clusters("agent_hash"),
        "quick": {"count": len(quick), "ballot_ids": quick[:MAX_LISTED]},
        "disposable": {"count": len(disposable), "ballot_ids": disposable[:MAX_LISTED]},
        "thresholds": {
            "burst_min": BURST_MIN,
            "burst_factor": BURST_FACTOR,
            "cluster_min": CLUSTER_MIN,
            "quick_seconds": QUICK_SECONDS,
        },
    }


# --- results -----------------------------------------------------------------------------------


async def compute_results(campaign: Campaign) -> list[dict[str, Any]]:
    """Ranking after the close.

    public_score = 100 × votes ÷ (most votes of any candidate), 0 when nobody voted;
    expert_score = mean of the reviewers' scores (0 without any);
    final_score = public_weight × public_score + expert_weight × expert_score;
    equal final scores share a rank (1, 1, 3).
    """
    candidates = await candidates_of(campaign.id)
    valid = dict(
        await BallotChoice.filter(campaign_id=campaign.id, ballot__invalidated_at__isnull=True)
        .annotate(n=Count("id"))
        .group_by("candidate_id")
        .values_list("candidate_id", "n")
    )
    void = dict(
        await BallotChoice.filter(campaign_id=campaign.id, ballot__invalidated_at__isnull=False)
        .annotate(n=Count("id"))
        .group_by("candidate_id")
        .values_list("candidate_id", "n")
    )
    experts = await (
        ExpertScore.filter(campaign_id=campaign.id)
        .annotate(mean=Avg("score"), reviewers=Count("id"))
        .group_by("candidate_id")
        .values_list("candidate_id", "mean", "reviewers")
    )
    expert_mean = {cid: (float(mean), int(n)) for cid, mean, n in experts}
    top = max((int(v) for v in valid.values()), default=0)
    rows = []
    for c in candidates:
        votes = int(valid.get(c.id, 0))
        public = 100.0 * votes / top if top else 0.0
        expert, reviewers = expert_mean.get(c.id, (0.0, 0))
        final = campaign.public_weight * public + campaign.expert_weight * expert
        rows.append(
            {
                "candidate_id": c.id,
                "title": c.title,
                "votes": votes,
                "invalidated": int(void.get(c.id, 0)),
                "public_score": round(public, 6),
                "expert_score": round(expert, 6),
                "reviewers": reviewers,
                "final_score": round(final, 6),
                "position": c.position,
            }
        )
    rows.sort(key=lambda r: (-r["final_score"], r["position"], r["candidate_id"]))
    previous: float | None = None
    rank = 0
    for index, row in enumerate(rows, start=1):
        if row["final_score"] != previous:
            rank = index
            previous = row["final_score"]
        row["rank"] = rank
        del row["position"]
    return rows


async def results(campaign_id: int) -> dict[str, Any]:
    """``{"status": "open", "results": None}`` until the close, for everyone; then the ranking."""
    campaign = await get_campaign(campaign_id)
    if not results_published(campaign):
        return {"status": "open" if status_of(campaign) != "closed" else "closed", "results": None}
    return {"status": "closed", "results": await compute_results(campaign)}


RESULT_CSV_HEADER = (
    "rank",
    "candidate_id",
    "title",
    "event_id",
    "votes",
    "invalidated",
    "public_score",
    "expert_score",
    "final_score",
)


async def results_csv_rows(campaign_id: int) -> list[list[Any]]:
    """The open-data table of a published result (404 before)."""
    campaign = await get_campaign(campaign_id)
    if not results_published(campaign):
        raise NotFound("结果尚未公布。")
    events = dict(await Candidate.filter(campaign_id=campaign.id).values_list("id", "event_id"))
    return [
        [
            r["rank"],
            r["candidate_id"],
            r["title"],
            events.get(r["candidate_id"]) or "",
            r["votes"],
            r["invalidated"],
            f"{r['public_score']:.2f}",
            f"{r['expert_score']:.2f}",
            f"{r['final_score']:.2f}",
        ]
        for r in await compute_results(campaign)
    ]


def local_day_of(moment: datetime) -> date:
    return clock.local(moment).date()


# --- personal data (个人信息保护法) -------------------------------------------------------------


async def export_personal_data(resident_id: int) -> list[dict[str, Any]]:
    """A resident's own ballots: campaign, day, time, choices, and whether one was invalidated."""
    ballots = await Ballot.filter(resident_id=resident_id).select_related("campaign").order_by("id")
    out = []
    for b in ballots:
        titles = await BallotChoice.filter(ballot_id=b.id).values_list(
            "candidate__title", flat=True
        )
        out.append(
            {
                "campaign": b.campaign.title,
                "day": b.local_day.isoformat(),
                "cast_at": _aware(b.cast_at).isoformat(),
                "choices": list(titles),
                "invalidated": b.invalidated_at is not None,
            }
        )
    return out


async def erase_personal_data(resident_id: int) -> None:
    """The ballots stay counted but no longer point to the account. The identity HMAC stays
    until the retention purge, so deleting an account cannot buy a second ballot the same day."""
    await Ballot.filter(resident_id=resident_id).update(resident_id=0)


async def purge_expired(before: datetime) -> int:
    """Past the retention period: the audit signals of closed campaigns are deleted and the
    ballots lose their link to any account."""
    ids = await Campaign.filter(closes_at__lt=before).values_list("id", flat=True)
    if not ids:
        return 0
    removed = await BallotAudit.filter(campaign_id__in=list(ids)).delete()
    await Ballot.filter(campaign_id__in=list(ids), resident_id__gt=0).update(resident_id=0)
    return int(removed or 0)


async def forget_spent_challenges() -> int:
    """Spent proof-of-work solutions are kept only while their challenge could still be valid."""
    removed = await PowUse.filter(used_at__lt=clock.now() - 2 * POW_TTL).delete()
    return int(removed or 0)
