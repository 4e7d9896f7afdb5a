"""Demo data: an open draft normative document with comments in every state, FAQ and board
questions, and a closed consultation with its published adoption report (idempotent)."""

from __future__ import annotations

from datetime import timedelta

from canyu.consultations import service
from canyu.consultations.models import BoardQuestion, Comment, Consultation
from canyu.core import clock, workdays
from canyu.core.permissions import Principal

OPEN_TITLE = "浦东新区政策留言板咨询回应工作规则（征求意见稿）"
CLOSED_TITLE = "浦东新区涉企政策公开征询意见工作办法"

OPEN_SECTIONS = [
    (
        "第一条 目的和依据",
        "为健全政策留言板咨询回应机制，提高回应的针对性、实效性，根据《2024年浦东新区政务公开工作要点》，制定本规则。",
    ),
    (
        "第二条 适用范围",
        "本规则适用于区政府各委、办、局，各管理局（管委会），各街道办事处、镇政府通过政策留言板答复企业群众政策咨询的工作。",
    ),
    (
        "第三条 办理时限",
        "承办单位应当自留言分派之日起 5 个工作日内答复；"
        "情况复杂的，经区政务公开办同意可延长 5 个工作日，并告知留言人。",
    ),
    (
        "第四条 答复要求",
        "答复应当针对留言所提问题，引用政策原文并说明适用条件，不得以“请查阅相关文件”等方式敷衍答复。",
    ),
    (
        "第五条 常见问题与解答清单",
        "对咨询较为集中的问题，政策制定机关应当形成常见问题与解答清单并公开发布，同步推送至政策订阅用户。",
    ),
    (
        "第六条 评价与督办",
        "留言人可以对答复作出满意、基本满意或不满意的评价。区政务公开办对超期未答复和不满意率较高的承办单位开展督办。",
    ),
]
OPEN_INTERPRETATION = """## 起草背景

《2024年浦东新区政务公开工作要点》提出“加强政策留言板建设”，要求健全咨询回应机制，并对咨询较为集中的问题形成常见问题与解答清单。

## 主要内容

1. 明确 **5 个工作日** 的答复时限和延期程序；
2. 规定答复的基本要求；
3. 建立常见问题与解答清单和满意度评价制度。
"""
COMMENTS = [
    (3, "建议把答复时限缩短为 3 个工作日，企业等不起。", "published", "张伟", "partly_adopted"),
    (3, "延期答复应当说明延期理由，并告诉留言人新的答复日期。", "published", "李娜", "adopted"),
    (4, "希望答复里附上办事入口链接，实现阅办联动。", "published", "王芳", None),
    (5, "常见问题清单多久更新一次？建议至少每季度更新。", "published", "刘洋", None),
    (None, "整体很好，建议同步在“一网通办”企业专属空间开通查阅。", "pending", "陈静", None),
    (6, "不满意的评价应当允许补充说明原因。", "pending", "杨帆", None),
    (None, "加微信领取代开发票服务", "rejected", "赵某", None),
]
CLOSED_SECTIONS = [
    ("第一条 听取意见的对象", "制定涉企政策时，应当重点听取相关企业和行业协会、商会的意见。"),
    ("第二条 征询期限", "涉企规范性文件向社会公开征询意见的期限一般不少于 7 个工作日。"),
    ("第三条 意见采纳反馈", "起草单位应当在文件印发前公布意见采纳情况，并说明未采纳的理由。"),
]


async def _organizer() -> Principal:
    from canyu.accounts.models import Staff

    staff = await Staff.get(username="admin")
    await staff.fetch_related("unit")
    return Principal(
        "staff",
        staff.id,
        staff.display_name or "admin",
        role="admin",
        unit_id=staff.unit_id,
        unit_name=staff.unit.name if staff.unit else None,  # type: ignore[attr-defined]
    )


async def _comment(
    c: Consultation, position: int | None, body: str, name: str, rid: int
) -> Comment:
    from canyu.consultations import sensitive
    from canyu.consultations.models import Section

    section = await Section.get(consultation_id=c.id, position=position) if position else None
    return await Comment.create(
        consultation_id=c.id,
        section=section,
        resident_id=rid,
        author_name=name,
        body=body,
        sensitive_hits=sensitive.hits_in(body),
        created_at=clock.now(),
    )


async def load() -> list[str]:
    if await Consultation.exists(title=OPEN_TITLE):
        return ["consultations: demo already loaded"]
    admin = await _organizer()
    moderator = Principal("staff", admin.id, admin.name, role="admin", unit_id=admin.unit_id)
    # Whole hours, read before the clock is moved back for each consultation.
    closed_start, open_start = clock.local_day_at(-40, 9), clock.local_day_at(-5, 9)
    try:
        # A closed consultation, run 40 days ago, with its report.
        start = closed_start
        clock.freeze(start)
        closed = await service.create_consultation(
            admin,
            {
                "title": CLOSED_TITLE,
                "kind": "normative",
                "drafting_unit": "区发展和改革委员会",
                "basis": "《2024年浦东新区政务公开工作要点》三（一）",
                "contact": "区发展改革委 政策法规科 021-50000000",
                "body": "为加强政策制定过程中的公众参与，制定本办法。",
                "interpretation": "本办法落实“加强听取意见的针对性”的要求。",
                "opens_at": start.isoformat(),
                "closes_at": (start + timedelta(days=14)).isoformat(),
                "sections": [{"title": t, "body": b} for t, b in CLOSED_SECTIONS],
                "audiences": ["enterprise"],
                "topics": ["营商环境", "公众参与"],
                "published": True,
            },
        )
        outcomes = [
            ("adopted", "已在第一条增加“产业园区”。"),
            ("not_adopted", "上位法已规定最短期限，不宜另行延长。"),
            ("partly_adopted", "采纳公布时限，说明方式保留。"),
        ]
        for i, (position, text) in enumerate(
            [
                (1, "建议把产业园区也列为重点听取对象。"),
                (2, "建议涉企文件征询期不少于 30 日。"),
                (3, "采纳情况应在印发后 10 日内公布，并逐条说明理由。"),
            ]
        ):
            clock.freeze(start + timedelta(days=1, hours=i))
            cm = await _comment(closed, position, text, ("周敏", "吴强", "郑丽")[i], 910000 + i)
            await service.moderate_comment(moderator, cm.id, "publish")
            await service.dispose_comments(admin, [cm.id], *outcomes[i])
        clock.freeze(start + timedelta(days=15))
        await service.publish_report(
            admin, closed.id, "共收到意见 3 条，采纳 1 条、部分采纳 1 条、未采纳 1 条。"
        )

        # The open consultation: published five days ago, open for 7 working days from then.
        start = open_start
        clock.freeze(start)
        close_day = workdays.add_workdays(clock.local(start).date(), 10)
        opened = await service.create_consultation(
            admin,
            {
                "title": OPEN_TITLE,
                "kind": "normative",
                "drafting_unit": "区政务公开办",
                "basis": "《2024年浦东新区政务公开工作要点》一（四）“加强政策留言板建设”",
                "contact": "区政务公开办 021-68540000，电子邮箱 zwgk@pudong.example.cn",
                "body": f"现将《{OPEN_TITLE}》全文公布，公开征求社会各界意见。",
                "interpretation": OPEN_INTERPRETATION,
                "opens_at": start.isoformat(),
                "closes_at": clock.local_midnight(close_day).isoformat(),
                "sections": [{"title": t, "body": b} for t, b in OPEN_SECTIONS],
                "audiences": ["enterprise", "livelihood"],
                "topics": ["政务公开", "政策留言板"],
                "published": True,
            },
        )
        for i, (position, text, status, name, outcome) in enumerate(COMMENTS):
            clock.freeze(start + timedelta(hours=3 + i))
            cm = await _comment(opened, position, text, name, 920000 + i)
            if status == "published":
                await service.moderate_comment(moderator, cm.id, "publish")
            elif status == "rejected":
                await service.moderate_comment(
                    moderator, cm.id, "reject", "含有广告信息，与本规则无关。"
                )
            if outcome:
                await service.dispose_comments(admin, [cm.id], outcome, "将在修改稿中予以体现。")
        clock.freeze(start + timedelta(days=2))
        await service.add_faq(
            admin,
            opened.id,
            "留言多久能得到答复？",
            "承办单位应在 **5 个工作日** 内答复，情况复杂的可延长 5 个工作日并告知留言人。",
        )
        await service.add_faq(
            admin,
            opened.id,
            "对答复不满意怎么办？",
            "可以在评价中选择“不满意”，并追问一次；区政务公开办将对不满意率较高的单位督办。",
        )
        q = await BoardQuestion.create(
            consultation_id=opened.id,
            resident_id=930000,
            author_name="孙浩",
            body="企业通过“一网通办”提交的咨询，也适用 5 个工作日的答复时限吗？",
            unit_id=opened.unit_id,
            due_on=workdays.add_workdays(clock.today(), 5),
            created_at=clock.now(),
        )
        await service.answer_question(
            admin, q.id, "适用。通过各渠道提交的政策咨询，统一按本规则办理。"
        )
        await BoardQuestion.create(
            consultation_id=opened.id,
            resident_id=930001,
            author_name="徐婷",
            body="个体工商户可以在政策留言板咨询吗？",
            unit_id=opened.unit_id,
            due_on=workdays.add_workdays(clock.today(), 5),
            created_at=clock.now(),
        )
    finally:
        clock.reset()
    return [
        f"consultations: open draft “{OPEN_TITLE}” (/consultations/{opened.id})"
        " with 7 comments, FAQ and board questions",
        f"consultations: closed “{CLOSED_TITLE}” with its adoption report"
        f" (/consultations/{closed.id}/report)",
    ]
