"""A resident's ballots are in their data download; deleting the account unlinks them; the
retention purge removes the audit signals of old campaigns."""

from __future__ import annotations

from datetime import timedelta

from canyu.core import clock
from canyu.voting import service
from canyu.voting.models import Ballot, BallotAudit
from conftest import sign_in
from voting.helpers import make_campaign


async def test_ballots_are_exported_unlinked_on_deletion_and_purged_after_retention(client, mailbox):
    c = await make_campaign(client)
    me = await sign_in(client, mailbox, "li.ming@example.com")
    await client.post(
        f"/api/v1/campaigns/{c['id']}/ballots", headers=me["headers"],
        json={"candidate_ids": [c["cids"][2]]},
    )
    exported = await service.export_personal_data(me["resident_id"])
    assert exported[0]["choices"] == ["开放活动3"] and exported[0]["invalidated"] is False
    await service.erase_personal_data(me["resident_id"])
    assert await service.export_personal_data(me["resident_id"]) == []
    assert await Ballot.filter(campaign_id=c["id"]).count() == 1  # still counted
    assert await service.purge_expired(clock.now()) == 0  # the campaign is still open
    clock.travel(timedelta(days=400))
    assert await service.purge_expired(clock.now() - timedelta(days=365)) == 1
    assert await BallotAudit.all().count() == 0
