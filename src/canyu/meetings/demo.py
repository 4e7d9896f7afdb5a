"""Demo data: a past meeting with a completed draw and answered suggestions, and an open call."""

from __future__ import annotations

from datetime import timedelta

from canyu.core import clock
from canyu.core.permissions import Principal
from canyu.meetings import service
from canyu.meetings.models import Invitation, Meeting

PAST_TITLE = "浦东新区老旧小区加装电梯工作推进会"
OPEN_TITLE = "张江科学城公共交通优化方案论证会"
NAMES = (
    "张伟",
    "王芳",
    "李娜",
    "刘洋",
    "陈静",
    "杨磊",
    "赵敏",
    "黄勇",
    "周丽",
    "吴强",
    "徐婷",
    "孙浩",
)
DISTRICTS = ("陆家嘴街道", "花木街道", "张江镇", "川沙新镇", "塘桥街道", "金杨新村街道")
CATEGORIES = ("市民", "市民", "企业", "专家", "媒体", "市民")


async def load() -> list[str]:
    from canyu.accounts.models import Staff

    if await Meeting.exists(title=PAST_TITLE):
        return ["meetings: demo already loaded"]
    admin = await Staff.get(username="admin")
    actor = Principal("staff", admin.id, admin.display_name or "admin", role="admin")
    start = clock.local_day_at(-20, 9)
    try:
        clock.freeze(start)
        meeting = await service.create_meeting(
            actor,
            {
                "title": PAST_TITLE,
                "summary": "为听取群众对加装电梯补贴标准和施工安排的意见，现公开征集列席代表 5 名、候补 2 名。",  # noqa: E501
                "location": "浦东新区市民中心 3 楼会议室",
                "meets_at": (start + timedelta(days=10)).isoformat(),
                "applications_open_at": (start - timedelta(hours=1)).isoformat(),
                "applications_close_at": (start + timedelta(days=7)).isoformat(),
                "seats": 5,
                "alternates": 2,
                "topics": [
                    {
                        "title": "加装电梯财政补贴标准",
                        "materials": "《加装电梯补贴办法（征求意见稿）》",
                    },
                    {"title": "施工期间居民出行保障"},
                ],
                "quotas": {
                    "gender": {"男": {"min": 2, "max": 3}, "女": {"min": 2, "max": 3}},
                    "category": {"市民": {"min": 2, "max": 5}},
                },
                "seed_source": "抽签当日中国福利彩票“双色球”最近一期开奖号码（按开奖顺序，以空格分隔）。",  # noqa: E501
            },
        )
        for i, name in enumerate(NAMES):
            resident = Principal("resident", 900000 + i, name)
            app = await service.apply(
                resident,
                meeting.id,
                {
                    "name": name,
                    "gender": "男" if i % 2 == 0 else "女",
                    "birth_year": 1955 + 3 * i,
                    "district": DISTRICTS[i % len(DISTRICTS)],
                    "occupation": ("教师", "退休职工", "工程师", "律师")[i % 4],
                    "category": CATEGORIES[i % len(CATEGORIES)],
                    "reason": "居住的小区正在筹备加装电梯。",
                    "no_conflict": True,
                    "consent": True,
                    "keep_in_pool": i % 3 == 0,
                },
                email=f"demo.delegate{i}@example.com",
            )
            await service.review(actor, app.id, "qualified")
        clock.freeze(start + timedelta(days=7, minutes=5))
        await service.start_commitment(actor, meeting.id, 300, wait=True)
        await service.draw_delegates(actor, meeting.id, "03 09 14 21 26 31 12")
        for number, invitation in enumerate(
            await Invitation.filter(meeting_id=meeting.id).order_by("id")
        ):
            await service.respond(invitation.token, accept=number != 0)
        clock.freeze(start + timedelta(days=10))
        for invitation in await Invitation.filter(meeting_id=meeting.id, status="accepted"):
            await service.check_in(actor, invitation.id)
        topics = await service.topics_of(meeting)
        accepted = await Invitation.filter(meeting_id=meeting.id, status="accepted").order_by("id")
        first = await service.add_suggestion(
            actor,
            meeting.id,
            {
                "topic_id": topics[0].id,
                "body": "建议对一楼住户给予适当补偿，减少邻里矛盾。",
                "owner_unit": "区住房和城乡建设管理委员会",
                "application_id": accepted[0].application_id,
            },
        )
        second = await service.add_suggestion(
            actor,
            meeting.id,
            {
                "topic_id": topics[1].id,
                "body": "施工期间请在楼道口设置临时扶手和夜间照明。",
                "owner_unit": "区住房和城乡建设管理委员会",
                "application_id": accepted[1].application_id,
            },
        )
        await service.answer_suggestion(
            actor,
            first.id,
            "partly_adopted",
            "补贴办法增加低层住户协商补偿条款，具体标准由业主自治协商。",
        )
        await service.answer_suggestion(actor, second.id, "adopted", "已写入施工安全文明管理要求。")
        await service.update_decision_summary(
            actor, meeting.id, "会议审议通过补贴办法（修改稿），吸收列席代表意见 2 条。"
        )
    finally:
        clock.reset()
    if not await Meeting.exists(title=OPEN_TITLE):
        await service.create_meeting(
            actor,
            {
                "title": OPEN_TITLE,
                "summary": "公开征集列席代表 6 名，欢迎张江地区居民、企业职工报名。",
                "meets_at": clock.local_day_at(21, 14).isoformat(),
                "applications_open_at": clock.local_day_at(-1, 9).isoformat(),
                "applications_close_at": clock.local_day_at(14, 17).isoformat(),
                "seats": 6,
                "alternates": 3,
                "topics": ["公交线路优化", "非机动车停放管理"],
                "quotas": {"category": {"企业": {"min": 1, "max": 3}}},
            },
        )
    return [
        f"meetings: '{PAST_TITLE}' (drawn, suggestions answered) and the open call '{OPEN_TITLE}'"
    ]
