"""评选: campaigns, candidates, ballots (one row per ballot slot), expert scores."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Campaign(Model):
    """评选: the October vote, its window, rules and weights."""

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=120)
    rules = fields.TextField(default="")
    opens_at = fields.DatetimeField()
    closes_at = fields.DatetimeField()
    #: When the result becomes public (never before the close).
    results_at = fields.DatetimeField(null=True)
    ballots_per_day = fields.IntField(default=1)
    choices_per_ballot = fields.IntField(default=1)
    public_weight = fields.FloatField(default=0.7)
    expert_weight = fields.FloatField(default=0.3)
    created_by = fields.IntField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "vote_campaign"


class Candidate(Model):
    """候选活动: an open-month event (by id, snapshot of its brief) or a free entry."""

    id = fields.IntField(primary_key=True)
    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField(
        "voting.Campaign", related_name="candidates", on_delete=fields.CASCADE
    )
    title = fields.CharField(max_length=120)
    summary = fields.TextField(default="")
    #: Id of an open-month event, a plain number (no foreign key into another feature).
    event_id = fields.IntField(null=True)
    photo_url = fields.CharField(max_length=300, default="")
    average_rating = fields.FloatField(null=True)
    rating_count = fields.IntField(default=0)
    position = fields.IntField(default=0)

    class Meta:
        table = "vote_candidate"


class Ballot(Model):
    """选票: one per identity, local day and slot (the unique key that makes the rule exact)."""

    id = fields.IntField(primary_key=True)
    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField(
        "voting.Campaign", related_name="ballots", on_delete=fields.CASCADE
    )
    identity_hmac = fields.CharField(max_length=64)
    resident_id = fields.IntField()
    local_day = fields.DateField()
    slot = fields.IntField()
    cast_at = fields.DatetimeField()
    invalidated_at = fields.DatetimeField(null=True)
    invalidation_reason = fields.CharField(max_length=200, default="")
    invalidated_by = fields.IntField(null=True)

    class Meta:
        table = "vote_ballot"
        unique_together = (("campaign", "identity_hmac", "local_day", "slot"),)
        indexes = (("campaign_id", "cast_at"),)


class BallotChoice(Model):
    """One candidate chosen on a ballot, unique per ballot."""

    id = fields.IntField(primary_key=True)
    ballot: fields.ForeignKeyRelation[Ballot] = fields.ForeignKeyField(
        "voting.Ballot", related_name="choices", on_delete=fields.CASCADE
    )
    candidate: fields.ForeignKeyRelation[Candidate] = fields.ForeignKeyField(
        "voting.Candidate", related_name="choices", on_delete=fields.CASCADE
    )
    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField(
        "voting.Campaign", related_name="ballot_choices", on_delete=fields.CASCADE
    )

    class Meta:
        table = "vote_choice"
        unique_together = (("ballot", "candidate"),)


class BallotAudit(Model):
    """The audit row of a ballot: pseudonymous signals for the anomaly report, no raw IP."""

    id = fields.IntField(primary_key=True)
    ballot: fields.OneToOneRelation[Ballot] = fields.OneToOneField(
        "voting.Ballot", related_name="audit", on_delete=fields.CASCADE
    )
    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField(
        "voting.Campaign", related_name="ballot_audits", on_delete=fields.CASCADE
    )
    network_hash = fields.CharField(max_length=32)
    agent_hash = fields.CharField(max_length=32)
    seconds_since_verification = fields.IntField()
    #: ok, off (difficulty 0) or the refusal that never reaches here.
    pow_result = fields.CharField(max_length=16)
    disposable_domain = fields.BooleanField(default=False)

    class Meta:
        table = "vote_ballot_audit"


class PowUse(Model):
    """A solved proof-of-work challenge, unique: each solution buys one ballot."""

    id = fields.IntField(primary_key=True)
    signature = fields.CharField(max_length=128, unique=True)
    used_at = fields.DatetimeField()

    class Meta:
        table = "vote_pow_use"


class ExpertScore(Model):
    """专家评审: a 0-100 score of one candidate by one reviewer (unique per reviewer)."""

    id = fields.IntField(primary_key=True)
    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField(
        "voting.Campaign", related_name="expert_scores", on_delete=fields.CASCADE
    )
    candidate: fields.ForeignKeyRelation[Candidate] = fields.ForeignKeyField(
        "voting.Candidate", related_name="expert_scores", on_delete=fields.CASCADE
    )
    reviewer_id = fields.IntField()
    reviewer_label = fields.CharField(max_length=80, default="")
    score = fields.FloatField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "vote_expert_score"
        unique_together = (("candidate", "reviewer_id"),)
