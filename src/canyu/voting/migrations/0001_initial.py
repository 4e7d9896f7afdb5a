from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Campaign',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('title', fields.CharField(max_length=120)),
                ('rules', fields.TextField(default='', unique=False)),
                ('opens_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('closes_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('results_at', fields.DatetimeField(null=True, description='When the result becomes public (never before the close).', auto_now=False, auto_now_add=False)),
                ('ballots_per_day', fields.IntField(default=1)),
                ('choices_per_ballot', fields.IntField(default=1)),
                ('public_weight', fields.FloatField(default=0.7)),
                ('expert_weight', fields.FloatField(default=0.3)),
                ('created_by', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'vote_campaign', 'app': 'voting', 'pk_attr': 'id', 'table_description': '评选: the October vote, its window, rules and weights.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Ballot',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('campaign', fields.ForeignKeyField('voting.Campaign', source_field='campaign_id', db_constraint=True, to_field='id', related_name='ballots', on_delete=OnDelete.CASCADE)),
                ('identity_hmac', fields.CharField(max_length=64)),
                ('resident_id', fields.IntField()),
                ('local_day', fields.DateField()),
                ('slot', fields.IntField()),
                ('cast_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('invalidated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('invalidation_reason', fields.CharField(default='', max_length=200)),
                ('invalidated_by', fields.IntField(null=True)),
            ],
            options={'table': 'vote_ballot', 'app': 'voting', 'unique_together': (('campaign', 'identity_hmac', 'local_day', 'slot'),), 'indexes': [Index(fields=['campaign_id', 'cast_at'])], 'pk_attr': 'id', 'table_description': '选票: one per identity, local day and slot (the unique key that makes the rule exact).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BallotAudit',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ballot', fields.OneToOneField('voting.Ballot', source_field='ballot_id', db_constraint=True, to_field='id', related_name='audit', on_delete=OnDelete.CASCADE)),
                ('campaign', fields.ForeignKeyField('voting.Campaign', source_field='campaign_id', db_constraint=True, to_field='id', related_name='ballot_audits', on_delete=OnDelete.CASCADE)),
                ('network_hash', fields.CharField(max_length=32)),
                ('agent_hash', fields.CharField(max_length=32)),
                ('seconds_since_verification', fields.IntField()),
                ('pow_result', fields.CharField(description='ok, off (difficulty 0) or the refusal that never reaches here.', max_length=16)),
                ('disposable_domain', fields.BooleanField(default=False)),
            ],
            options={'table': 'vote_ballot_audit', 'app': 'voting', 'pk_attr': 'id', 'table_description': 'The audit row of a ballot: pseudonymous signals for the anomaly report, no raw IP.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Candidate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('campaign', fields.ForeignKeyField('voting.Campaign', source_field='campaign_id', db_constraint=True, to_field='id', related_name='candidates', on_delete=OnDelete.CASCADE)),
                ('title', fields.CharField(max_length=120)),
                ('summary', fields.TextField(default='', unique=False)),
                ('event_id', fields.IntField(null=True, description='Id of an open-month event, a plain number (no foreign key into another feature).')),
                ('photo_url', fields.CharField(default='', max_length=300)),
                ('average_rating', fields.FloatField(null=True)),
                ('rating_count', fields.IntField(default=0)),
                ('position', fields.IntField(default=0)),
            ],
            options={'table': 'vote_candidate', 'app': 'voting', 'pk_attr': 'id', 'table_description': '候选活动: an open-month event (by id, snapshot of its brief) or a free entry.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BallotChoice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ballot', fields.ForeignKeyField('voting.Ballot', source_field='ballot_id', db_constraint=True, to_field='id', related_name='choices', on_delete=OnDelete.CASCADE)),
                ('candidate', fields.ForeignKeyField('voting.Candidate', source_field='candidate_id', db_constraint=True, to_field='id', related_name='choices', on_delete=OnDelete.CASCADE)),
                ('campaign', fields.ForeignKeyField('voting.Campaign', source_field='campaign_id', db_constraint=True, to_field='id', related_name='ballot_choices', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'vote_choice', 'app': 'voting', 'unique_together': (('ballot', 'candidate'),), 'pk_attr': 'id', 'table_description': 'One candidate chosen on a ballot, unique per ballot.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ExpertScore',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('campaign', fields.ForeignKeyField('voting.Campaign', source_field='campaign_id', db_constraint=True, to_field='id', related_name='expert_scores', on_delete=OnDelete.CASCADE)),
                ('candidate', fields.ForeignKeyField('voting.Candidate', source_field='candidate_id', db_constraint=True, to_field='id', related_name='expert_scores', on_delete=OnDelete.CASCADE)),
                ('reviewer_id', fields.IntField()),
                ('reviewer_label', fields.CharField(default='', max_length=80)),
                ('score', fields.FloatField()),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'vote_expert_score', 'app': 'voting', 'unique_together': (('candidate', 'reviewer_id'),), 'pk_attr': 'id', 'table_description': '专家评审: a 0-100 score of one candidate by one reviewer (unique per reviewer).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PowUse',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('signature', fields.CharField(unique=True, max_length=128)),
                ('used_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'vote_pow_use', 'app': 'voting', 'pk_attr': 'id', 'table_description': 'A solved proof-of-work challenge, unique: each solution buys one ballot.'},
            bases=['Model'],
        ),
    ]
