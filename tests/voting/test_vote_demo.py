"""``canyu demo`` gains a closed campaign with results and an open one, idempotently."""

from __future__ import annotations

from canyu.voting import demo, service
from canyu.voting.models import Ballot, Campaign


async def test_demo_loads_a_closed_campaign_with_results_and_an_open_one_once(db):
    from canyu.core import security
    from conftest import TEST_SECRET

    security.configure(TEST_SECRET)
    first = await demo.load()
    assert len(first) == 2
    ballots = await Ballot.all().count()
    again = await demo.load()
    assert again == ["vote: demo campaigns already loaded"]
    assert await Campaign.all().count() == 2
    assert await Ballot.all().count() == ballots
    closed = await Campaign.get(title=demo.CLOSED_TITLE)
    answer = await service.results(closed.id)
    assert answer["status"] == "closed"
    assert answer["results"][0]["rank"] == 1
    assert sum(r["invalidated"] for r in answer["results"]) > 0
    opened = await Campaign.get(title=demo.OPEN_TITLE)
    assert (await service.results(opened.id)) == {"status": "open", "results": None}
