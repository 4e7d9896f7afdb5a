"""HTML pages of the vote: campaigns, the ballot form, results; staff management and review."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from canyu.accounts import privacy
from canyu.audit import service as audit
from canyu.core import clock, nav, scheduler, uploads
from canyu.core.errors import DomainError
from canyu.core.exports import download
from canyu.core.i18n import N_
from canyu.core.permissions import authorize
from canyu.core.ratelimit import client_ip
from canyu.core.templating import flash, render
from canyu.core.web import form_data, path_int, redirect, user
from canyu.voting import service

nav.public_link("/campaigns", "评选投票", order=40)
nav.staff_link("/staff/campaigns", "评选管理", {"admin"}, order=40)
nav.staff_link("/staff/reviews", "专家评审", {"reviewer", "admin"}, order=41)


async def _home_loader() -> dict[str, Any]:
    campaigns = await service.open_campaigns()
    return {"vote_campaigns": campaigns}


nav.home_section("voting/home_section.html", _home_loader, order=40)
audit.ACTION_LABELS.update(
    {
        "vote.campaign_created": N_("创建评选"),
        "vote.expert_scored": N_("专家评审打分"),
        "vote.ballots_invalidated": N_("作废选票"),
    }
)
scheduler.register_job("vote-forget-spent-challenges", 3600, service.forget_spent_challenges)
privacy.register("votes", service.export_personal_data, service.erase_personal_data)
privacy.register_retention("votes", service.purge_expired)


def _ids(value: Any) -> list[int] | Any:
    values = value if isinstance(value, list) else ([] if value in (None, "") else [value])
    out = []
    for v in values:
        if not re.fullmatch(r"\d{1,9}", str(v)):
            raise DomainError("unknown_candidate", "所选的候选活动不存在。", 422)
        out.append(int(v))
    return out


async def _detail_context(request: Request, campaign_id: int) -> dict[str, Any]:
    campaign = await service.get_campaign(campaign_id)
    view = await service.campaign_view(campaign)
    me = user(request)
    used = 0
    mine: list[str] = []
    if me and me.is_resident and view["status"] == "open":
        used = await service.ballots_today(me.id, campaign)
        mine = await service.my_choices_today(me.id, campaign)
    ranking = await service.compute_results(campaign) if view["results_published"] else None
    return {
        "campaign": view,
        "used_today": used,
        "my_choices": mine,
        "ranking": ranking,
        "invalidated_total": await service.invalidated_count(campaign.id) if ranking else 0,
        "pow_difficulty": request.app.state.settings.pow_difficulty,
        "selected": [],
        "error": None,
    }


async def campaign_list(request: Request) -> Response:
    campaigns = [await service.campaign_view(c) for c in await service.list_campaigns()]
    return render(request, "voting/list.html", {"campaigns": campaigns})


async def campaign_page(request: Request) -> Response:
    return render(request, "voting/detail.html", await _detail_context(request, path_int(request)))


async def cast(request: Request) -> Response:
    campaign_id = path_int(request)
    data = await form_data(request)
    selected: list[int] = []
    try:
        selected = _ids(data.get("candidate_id"))
        await service.cast_ballot(
            user(request),
            campaign_id,
            selected,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
            pow_payload=data.get("altcha") or None,
            pow_difficulty=request.app.state.settings.pow_difficulty,
        )
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        ctx = await _detail_context(request, campaign_id)
        ctx.update(error=exc, selected=selected)
        return render(request, "voting/detail.html", ctx, status_code=exc.status)
    flash(request, "投票成功，感谢您的参与！")
    return redirect(request, f"/campaigns/{campaign_id}#ballot")


async def results_csv(request: Request) -> Response:
    campaign_id = path_int(request)
    rows = await service.results_csv_rows(campaign_id)
    return download("csv", f"campaign-{campaign_id}-results", service.RESULT_CSV_HEADER, rows)


# --- staff ------------------------------------------------------------------------------------


def _local_dt(value: Any, field: str, required: bool = True) -> datetime | None:
    text = str(value or "").strip()
    if not text:
        if required:
            raise DomainError("invalid_window", "请填写投票开始和截止时间。", 422, field=field)
        return None
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise DomainError("invalid_datetime", "时间格式无效。", 422, field=field) from None
    return naive.replace(tzinfo=clock.zone()) if naive.tzinfo is None else naive


def _int(value: Any, field: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise DomainError("invalid_number", "请输入整数。", 422, field=field) from None


#: Candidate photos live under ``CANYU_UPLOAD_DIR/voting/`` and are served from here.
PHOTO_FOLDER = "voting"
PHOTO_PREFIX = "/campaigns/photos/"
_PHOTO_NAME = re.compile(r"[^|/\\]+\.(?:jpe?g|png|webp|gif)", re.IGNORECASE)


def _candidates_from_text(text: str) -> list[dict[str, Any]]:
    """One candidate a line: ``标题`` or ``活动编号|标题`` (the title may be left out), each
    optionally ending in ``|图片文件名`` (``photo`` names one of the uploaded images)."""
    out = []
    for line in str(text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        photo = ""
        head, sep, last = line.rpartition("|")
        if sep and _PHOTO_NAME.fullmatch(last.strip()):
            line, photo = head.strip(), last.strip()
        number, sep, rest = line.partition("|")
        item: dict[str, Any]
        if (sep or photo) and re.fullmatch(r"\d{1,9}", number.strip()):
            item = {"event_id": int(number.strip())}
            if rest.strip():
                item["title"] = rest.strip()
        else:
            item = {"title": line}
        if photo:
            item["photo"] = photo
        out.append(item)
    return out


async def _candidate_photos(value: Any) -> dict[str, uploads.Image]:
    """The images chosen in the form by file name, each checked by its content."""
    files = value if isinstance(value, list) else [value]
    photos: dict[str, uploads.Image] = {}
    for file in files:
        name, data = await uploads.read_upload(file, uploads.IMAGE_MAX_BYTES, field="photos")
        name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
        if not name and not data:
            continue
        try:
            photos[name] = uploads.check_image(data, field="photos")
        except DomainError as exc:
            raise DomainError(
                exc.code,
                "图片“%(name)s”无法使用：只能是不超过 %(mb)s MB 的 JPEG、PNG、WebP 或 GIF 图片。",
                exc.status,
                field="photos",
                name=name,
                mb=uploads.IMAGE_MAX_BYTES // (1024 * 1024),
            ) from None
    return photos


def _attach_photos(
    candidates: list[dict[str, Any]], photos: dict[str, uploads.Image], upload_dir: Any
) -> list[str]:
    """Store the photos the candidates name and set their ``photo_url``; returns what was stored.
    A named photo that was not chosen, or a chosen one that no line names, is refused first."""
    named = {c["photo"] for c in candidates if c.get("photo")}
    missing, unused = sorted(named - set(photos)), sorted(set(photos) - named)
    if missing:
        raise DomainError(
            "missing_photo",
            "找不到图片“%(name)s”，请在“候选图片”中选择它。",
            field="photos",
            name=missing[0],
        )
    if unused:
        raise DomainError(
            "unused_photo",
            "图片“%(name)s”没有对应的候选：请在那一行的末尾写上“|%(name)s”。",
            field="photos",
            name=unused[0],
        )
    stored: dict[str, str] = {}
    for name in sorted(named):
        image = photos[name]
        stored[name] = uploads.store(image.data, upload_dir, PHOTO_FOLDER, image.ext)
    for c in candidates:
        if c.get("photo"):
            c["photo_url"] = PHOTO_PREFIX + stored[c.pop("photo")]
    return list(stored.values())


def _staff_context(form: dict[str, Any] | None = None, error: Any = None) -> dict[str, Any]:
    return {"form": form or {}, "error": error}


async def staff_campaigns(request: Request) -> Response:
    authorize(user(request), {"admin"})
    campaigns = [await service.campaign_view(c) for c in await service.list_campaigns()]
    return render(request, "voting/staff_list.html", {"campaigns": campaigns, **_staff_context()})


async def staff_create(request: Request) -> Response:
    me = authorize(user(request), {"admin"})
    upload_dir = request.app.state.settings.upload_dir
    form = await form_data(request)
    stored: list[str] = []
    try:
        candidates = _candidates_from_text(str(form.get("candidates", "")))
        photos = await _candidate_photos(form.get("photos"))
        data = {
            "title": form.get("title"),
            "rules": form.get("rules"),
            "opens_at": _local_dt(form.get("opens_at"), "opens_at"),
            "closes_at": _local_dt(form.get("closes_at"), "closes_at"),
            "results_at": _local_dt(form.get("results_at"), "results_at", required=False),
            "ballots_per_day": _int(form.get("ballots_per_day", 1), "ballots_per_day"),
            "choices_per_ballot": _int(form.get("choices_per_ballot", 1), "choices_per_ballot"),
            "public_weight": form.get("public_weight", "0.7"),
            "expert_weight": form.get("expert_weight", "0.3"),
            "candidates": candidates,
        }
        stored = _attach_photos(candidates, photos, upload_dir)
        campaign = await service.create_campaign(me, data)
    except BaseException as exc:
        for name in stored:
            uploads.discard(upload_dir, PHOTO_FOLDER, name)
        if not isinstance(exc, DomainError) or exc.status in (401, 403):
            raise
        form = {k: v for k, v in form.items() if isinstance(v, str)}
        campaigns = [await service.campaign_view(c) for c in await service.list_campaigns()]
        return render(
            request,
            "voting/staff_list.html",
            {"campaigns": campaigns, **_staff_context(form, exc)},
            status_code=exc.status,
        )
    finally:
        await request.close()
    flash(request, "评选已创建。")
    return redirect(request, f"/staff/campaigns/{campaign.id}")


async def candidate_photo(request: Request) -> Response:
    name = str(request.path_params["name"])
    return uploads.serve_image(request.app.state.settings.upload_dir, PHOTO_FOLDER, name)


async def staff_campaign(request: Request, error: Any = None, status: int = 200) -> Response:
    me = authorize(user(request), {"admin"})
    campaign = await service.get_campaign(path_int(request))
    return render(
        request,
        "voting/staff_campaign.html",
        {
            "campaign": await service.campaign_view(campaign),
            "report": await service.anomaly_report(me, campaign.id),
            "error": error,
        },
        status_code=status,
    )


async def staff_invalidate(request: Request) -> Response:
    me = authorize(user(request), {"admin"})
    campaign_id = path_int(request)
    form = await form_data(request)
    try:
        ids = form.get("ballot_id")
        ids = ids if isinstance(ids, list) else ([ids] if ids else [])
        ballot_ids = [int(i) for i in ids if str(i).isdigit()]
        changed = await service.invalidate_ballots(me, campaign_id, ballot_ids, form.get("reason"))
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await staff_campaign(request, exc, exc.status)
    if changed:
        flash(request, "已作废所选选票。")
    else:
        flash(request, "所选选票此前已作废。")
    return redirect(request, f"/staff/campaigns/{campaign_id}")


async def staff_reviews(request: Request) -> Response:
    authorize(user(request), {"admin", "reviewer"})
    campaigns = [await service.campaign_view(c) for c in await service.list_campaigns()]
    return render(request, "voting/staff_reviews.html", {"campaigns": campaigns})


async def _scores_page(
    request: Request, error: Any = None, status: int = 200, typed: dict | None = None
) -> Response:
    me = authorize(user(request), {"admin", "reviewer"})
    campaign = await service.get_campaign(path_int(request))
    mine = await service.my_expert_scores(me, campaign.id)
    values = {cid: (f"{v:g}") for cid, v in mine.items()}
    if typed:
        values.update(typed)
    return render(
        request,
        "voting/staff_scores.html",
        {"campaign": await service.campaign_view(campaign), "values": values, "error": error},
        status_code=status,
    )


async def staff_scores(request: Request) -> Response:
    return await _scores_page(request)


async def staff_scores_save(request: Request) -> Response:
    me = authorize(user(request), {"admin", "reviewer"})
    campaign_id = path_int(request)
    form = await form_data(request)
    typed: dict[int, str] = {}
    scores = []
    try:
        for key, value in form.items():
            match = re.fullmatch(r"score_(\d{1,9})", key)
            if not match or str(value).strip() == "":
                continue
            typed[int(match.group(1))] = str(value)
            try:
                number = float(str(value).strip())
            except ValueError:
                raise DomainError(
                    "invalid_score", "评分须为 0 到 100 之间的数字。", 422, field="scores"
                ) from None
            scores.append({"candidate_id": int(match.group(1)), "score": number})
        await service.submit_expert_scores(me, campaign_id, scores)
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await _scores_page(request, exc, exc.status, typed)
    flash(request, "评分已保存。")
    return redirect(request, f"/staff/campaigns/{campaign_id}/scores")


routes = [
    Route("/campaigns", campaign_list, methods=["GET"]),
    Route("/campaigns/{id:int}", campaign_page, methods=["GET"]),
    Route("/campaigns/photos/{name:str}", candidate_photo, methods=["GET"]),
    Route("/campaigns/{id:int}/ballots", cast, methods=["POST"]),
    Route("/campaigns/{id:int}/results.csv", results_csv, methods=["GET"]),
    Route("/staff/campaigns", staff_campaigns, methods=["GET"]),
    Route("/staff/campaigns", staff_create, methods=["POST"]),
    Route("/staff/campaigns/{id:int}", staff_campaign, methods=["GET"]),
    Route("/staff/campaigns/{id:int}/invalidations", staff_invalidate, methods=["POST"]),
    Route("/staff/reviews", staff_reviews, methods=["GET"]),
    Route("/staff/campaigns/{id:int}/scores", staff_scores, methods=["GET"]),
    Route("/staff/campaigns/{id:int}/scores", staff_scores_save, methods=["POST"]),
]
