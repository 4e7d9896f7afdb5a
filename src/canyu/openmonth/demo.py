"""``canyu demo``: a realistic August programme of the government open month (idempotent)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from canyu.core import clock
from canyu.core.id_numbers import check_character
from canyu.openmonth.models import OpenEvent, Rating, Registration
from canyu.openmonth.service import seal_id_number

# (unit, title, theme, mode, location, district, day, hour, hours, capacity, companions,
#  filled, waiting, summary)
PROGRAMME = (
    (
        "区城市运行综合管理中心",
        "走进“城市大脑”：浦东城运中心开放日",
        "城市治理",
        "offline",
        "浦东新区合欢路 2 号（花木街道）",
        "花木街道",
        4,
        9,
        2,
        40,
        1,
        40,
        12,
        "走进浦东新区城市运行综合管理中心指挥大厅，看“一网统管”如何在几分钟内把市民报修、"
        "道路积水、高空坠物等事件派到街镇和部门，并与值班长面对面交流。",
    ),
    (
        "区水务局",
        "白龙港污水处理厂开放日",
        "生态环境",
        "offline",
        "浦东新区合庆镇白龙港（东端）",
        "合庆镇",
        6,
        9,
        3,
        30,
        1,
        30,
        8,
        "亚洲规模最大的污水处理厂之一向市民开放：沿着工艺流程看一滴污水如何变清，"
        "了解污泥处理和尾水排放标准。现场需核验身份证件。",
    ),
    (
        "张江镇",
        "张江科学城：从规划图到创新街区",
        "营商环境",
        "offline",
        "浦东新区张江镇祖冲之路 1559 号",
        "张江镇",
        8,
        14,
        2,
        50,
        2,
        21,
        0,
        "参观张江科学城规划展示馆和人才公寓，听规划师讲解“科学城十年”，"
        "企业代表可现场反映政务服务诉求。",
    ),
    (
        "区政务服务中心",
        "“一网通办”体验日：办事不用跑",
        "民生服务",
        "hybrid",
        "浦东新区合欢路 201 号区市民中心",
        "花木街道",
        11,
        10,
        2,
        60,
        1,
        18,
        0,
        "在区市民中心体验“一件事一次办”和“远程帮办”，工作人员演示企业开办、"
        "社保转移等高频事项。同步线上直播。",
    ),
    (
        "区 12345 市民服务热线",
        "线上开放：听一听 12345 热线的一天",
        "民心工程",
        "online",
        "",
        "",
        13,
        19,
        1,
        500,
        0,
        96,
        0,
        "线上直播走进浦东 12345 热线工单中心：市民来电怎样分派、怎样督办、"
        "怎样回访评价。直播中可提问，工作人员现场解答。",
    ),
    (
        "花木街道",
        "老旧小区加装电梯实事项目现场会",
        "实事项目",
        "offline",
        "浦东新区花木街道联洋社区居委会",
        "花木街道",
        15,
        9,
        2,
        20,
        1,
        20,
        6,
        "走访已完成加装电梯的居民楼，听居民、设计单位和街道讲讲“协商—审批—施工”全过程，"
        "了解补贴政策和申请流程。",
    ),
    (
        "陆家嘴街道",
        "滨江东岸贯通步道：漫步与座谈",
        "民心工程",
        "offline",
        "浦东新区陆家嘴滨江大道 2967 号（东昌渡口）",
        "陆家嘴街道",
        17,
        18,
        2,
        35,
        2,
        12,
        0,
        "沿滨江东岸步道走一段，听街道和绿化部门介绍驿站、公厕和夜间照明的改造，"
        "座谈会上收集市民对滨江公共空间的建议。",
    ),
    (
        "区档案馆",
        "浦东开发开放档案珍藏展",
        "文化旅游",
        "offline",
        "浦东新区花木街道丁香路 1399 号",
        "花木街道",
        19,
        14,
        2,
        40,
        2,
        9,
        0,
        "查看浦东开发开放以来的珍贵档案原件，了解如何查阅和利用政府信息公开档案。"
        "适合带孩子参加（14 岁以下儿童须监护人同意）。",
    ),
    (
        "区发展和改革委员会",
        "重大民生项目开门问计会",
        "实事项目",
        "hybrid",
        "浦东新区世纪大道 2001 号区政府 1 号楼",
        "花木街道",
        21,
        14,
        2,
        45,
        0,
        45,
        15,
        "区发改委介绍明年民心工程和重大民生项目的初步考虑，现场和线上征集市民意见建议，"
        "会后在平台公开意见采纳情况。",
    ),
    (
        "三林镇",
        "社区长者食堂：实事项目回头看",
        "实事项目",
        "offline",
        "浦东新区三林镇三林路 235 号",
        "三林镇",
        24,
        11,
        2,
        25,
        1,
        7,
        0,
        "品尝长者食堂的午餐，听运营方和镇里介绍价格、补贴和配送，请老年居民为食堂打分提意见。",
    ),
    (
        "区绿化和市容管理局",
        "老港生态环保基地：垃圾去哪儿了",
        "生态环境",
        "offline",
        "浦东新区老港镇南滨公路 3888 号",
        "老港镇",
        26,
        9,
        4,
        30,
        1,
        30,
        4,
        "乘大巴前往老港生态环保基地，参观湿垃圾资源化利用和焚烧发电，"
        "了解生活垃圾分类后的去向。年满 10 周岁方可参加。",
    ),
    (
        "川沙新镇",
        "川沙古城城市更新开放日",
        "城市治理",
        "hybrid",
        "浦东新区川沙新镇南市街 99 号",
        "川沙新镇",
        28,
        14,
        2,
        40,
        2,
        5,
        0,
        "走进川沙古城更新现场，看历史街区保护与居民生活改善如何兼顾，规划团队现场答疑。",
    ),
)

# Last year's events, already held, with check-ins and ratings (for the October vote).
PAST = (
    (
        "区城市运行综合管理中心",
        "城运中心夜间值守开放体验",
        "城市治理",
        "offline",
        "浦东新区合欢路 2 号（花木街道）",
        "花木街道",
        10,
        19,
        2,
        30,
        (5, 5, 4, 5, 4, 5),
    ),
    (
        "花木街道",
        "社区微更新：口袋公园共建",
        "民心工程",
        "offline",
        "浦东新区花木街道梅花路口袋公园",
        "花木街道",
        16,
        9,
        2,
        25,
        (4, 4, 5, 3),
    ),
    (
        "区 12345 市民服务热线",
        "12345 热线开放直播",
        "民心工程",
        "online",
        "",
        "",
        20,
        19,
        1,
        300,
        (5, 4, 4, 5, 5),
    ),
)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "国平",
    "玉兰",
    "志强",
    "海燕",
)


def _august(year: int, day: int, hour: int) -> datetime:
    return datetime(year, 8, day, hour, 0, tzinfo=clock.zone()).astimezone(clock.now().tzinfo)


def _person(i: int) -> tuple[str, str]:
    name = SURNAMES[i * 7 % len(SURNAMES)] + GIVEN[i * 5 % len(GIVEN)]
    return name, f"139{(i * 7919) % 100_000_000:08d}"


def _id_number(i: int) -> str:
    """A made-up but well-formed 浦东 ID number (address code 310115, a valid birth date and
    check character), distinct for each ``i``."""
    first17 = f"310115{1950 + i % 50}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return first17 + check_character(first17)


def _sealed_id(event: OpenEvent, i: int) -> dict[str, str | None]:
    """What a registration of an event that checks ID on site stores: the encrypted number
    and its keyed hash (as ``service`` does)."""
    if not event.id_check:
        return {}
    sealed, hashed = seal_id_number(_id_number(i))
    return {"id_number_encrypted": sealed, "id_number_hash": hashed}


async def _unit_id(name: str) -> int:
    from canyu.accounts import service as accounts

    return (await accounts.ensure_unit(name)).id


async def _fill(event: OpenEvent, filled: int, waiting: int, companions: int, seed: int) -> None:
    """Demo registrations taken over the 12345 hotline, consistent with the counter:
    ``filled`` places confirmed (every fourth person brings a companion where the event allows
    it), then ``waiting`` people on the waiting list (the programme has a waiting list only
    for full events)."""
    # Registrations came in while registration was open (and before now, for upcoming events).
    until = min(clock.now(), event.registration_closes_at)
    places: list[int] = []  # per confirmed person: 1 + companions
    taken = 0
    while taken < filled:
        extra = 1 if companions and len(places) % 4 == 0 and taken + 2 <= filled else 0
        places.append(1 + extra)
        taken += 1 + extra
    asked = [*places, *([0] * waiting)]  # 0: on the waiting list
    rows = []
    for i, taken_places in enumerate(asked):
        name, phone = _person(seed + i)
        # Spread over the time since registration opened, oldest first.
        created = event.registration_opens_at + (until - event.registration_opens_at) * (
            (i + 1) / (len(asked) + 1)
        )
        status = "confirmed" if taken_places else "waitlisted"
        extra = max(0, taken_places - 1)
        rows.append(
            Registration(
                event_id=event.id,
                person_key=f"demo-{event.id}-{i}",
                name=name,
                phone=phone,
                status=status,
                places=1 + extra,
                companions=extra,
                ticket_code=f"DEMO{event.id:02d}{i:04d}" if status == "confirmed" else None,
                month=clock.local(event.starts_at).strftime("%Y-%m"),
                source="phone",
                confirmed_at=created if status == "confirmed" else None,
                created_at=created,
                **_sealed_id(event, seed + i),
            )
        )
    await Registration.bulk_create(rows)
    await OpenEvent.filter(id=event.id).update(taken=taken)


async def load() -> list[str]:
    today = clock.today()
    year = today.year if (today.month, today.day) < (8, 1) else today.year + 1
    created = 0
    for index, row in enumerate(PROGRAMME):
        (
            unit,
            title,
            theme,
            mode,
            location,
            district,
            day,
            hour,
            hours,
            capacity,
            companions,
            filled,
            waiting,
            summary,
        ) = row
        if await OpenEvent.exists(title=title):
            continue
        starts = _august(year, day, hour)
        # Registration opened a week ago (the demo's registrations came in since).
        opens = min(clock.local_day_at(-7, 9), _august(year, 1, 9) - timedelta(days=10))
        async with in_transaction():
            event = await OpenEvent.create(
                unit_id=await _unit_id(unit),
                unit_name=unit,
                title=title,
                summary=summary,
                theme=theme,
                mode=mode,
                location=location,
                district=district,
                stream_url=f"https://live.example.gov.cn/pudong/open-month/{index + 1}"
                if mode != "offline"
                else "",
                starts_at=starts,
                ends_at=starts + timedelta(hours=hours),
                capacity=capacity,
                registration_opens_at=opens,
                registration_closes_at=starts - timedelta(days=1),
                cancellation_closes_at=starts - timedelta(hours=12),
                max_companions=companions,
                min_age=10 if "老港" in title else None,
                id_check="白龙港" in title or "区政府" in location,
                requirements="请提前 15 分钟到场。" if mode != "online" else "",
                published=True,
                created_at=opens - timedelta(days=2),  # prepared before registration opened
            )
            await _fill(event, filled, waiting, companions, seed=index * 101)
        created += 1
    past_created = 0
    for index, (
        unit,
        title,
        theme,
        mode,
        location,
        district,
        day,
        hour,
        hours,
        capacity,
        stars,
    ) in enumerate(PAST):
        if await OpenEvent.exists(title=title):
            continue
        starts = _august(year - 1, day, hour)
        async with in_transaction():
            event = await OpenEvent.create(
                unit_id=await _unit_id(unit),
                unit_name=unit,
                title=title,
                summary=f"{title}（去年开放月活动回顾）",
                theme=theme,
                mode=mode,
                location=location,
                district=district,
                starts_at=starts,
                ends_at=starts + timedelta(hours=hours),
                capacity=capacity,
                registration_opens_at=starts - timedelta(days=30),
                registration_closes_at=starts - timedelta(days=1),
                cancellation_closes_at=starts - timedelta(hours=12),
                published=True,
                created_at=starts - timedelta(days=40),
            )
            await _fill(event, len(stars) + 3, 0, 0, seed=1000 + index * 37)
            for i, value in enumerate(stars):
                await Registration.filter(
                    event_id=event.id, person_key=f"demo-{event.id}-{i}"
                ).update(checked_in_at=starts + timedelta(minutes=i))
                await Rating.create(
                    event_id=event.id,
                    person_key=f"demo-{event.id}-{i}",
                    stars=value,
                    comment="",
                    created_at=starts + timedelta(hours=3),
                )
        past_created += 1
    total = await OpenEvent.all().count()
    return [
        f"open month: {created} events of August {year} added, {past_created} past events "
        f"with ratings added ({total} in all)"
    ]
