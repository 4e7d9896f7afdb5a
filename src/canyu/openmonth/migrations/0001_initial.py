from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="MonthlyPlaces",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("person_key", fields.CharField(max_length=80)),
                ("month", fields.CharField(max_length=7)),
                ("places", fields.IntField(default=0)),
            ],
            options={
                "table": "openmonth_monthly_places",
                "app": "openmonth",
                "unique_together": (("person_key", "month"),),
                "pk_attr": "id",
                "table_description": "Confirmed places one person holds in one month, taken with a conditional UPDATE.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="OpenEvent",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("unit_id", fields.IntField(db_index=True)),
                ("unit_name", fields.CharField(max_length=64)),
                ("title", fields.CharField(max_length=120)),
                ("summary", fields.TextField(unique=False)),
                ("theme", fields.CharField(max_length=16)),
                ("mode", fields.CharField(max_length=8)),
                ("location", fields.CharField(default="", max_length=200)),
                ("district", fields.CharField(default="", max_length=16)),
                ("stream_url", fields.CharField(default="", max_length=300)),
                (
                    "starts_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
                ),
                ("ends_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("capacity", fields.IntField()),
                ("taken", fields.IntField(default=0)),
                ("registration_opens_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "registration_closes_at",
                    fields.DatetimeField(auto_now=False, auto_now_add=False),
                ),
                (
                    "cancellation_closes_at",
                    fields.DatetimeField(auto_now=False, auto_now_add=False),
                ),
                ("max_companions", fields.IntField(default=0)),
                ("min_age", fields.IntField(null=True)),
                ("id_check", fields.BooleanField(default=False)),
                ("requirements", fields.TextField(default="", unique=False)),
                ("image_url", fields.CharField(default="", max_length=300)),
                ("published", fields.BooleanField(default=False)),
                (
                    "cancelled_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("cancel_reason", fields.TextField(default="", unique=False)),
                ("created_by", fields.IntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "openmonth_event",
                "app": "openmonth",
                "pk_attr": "id",
                "table_description": "开放活动: an open-day event of one unit (委办局 or 街镇).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Rating",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "event",
                    fields.ForeignKeyField(
                        "openmonth.OpenEvent",
                        source_field="event_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="ratings",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("person_key", fields.CharField(max_length=80)),
                ("stars", fields.IntField()),
                ("comment", fields.TextField(default="", unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "openmonth_rating",
                "app": "openmonth",
                "unique_together": (("event", "person_key"),),
                "pk_attr": "id",
                "table_description": "活动评价: 1 to 5 stars and an optional comment, one per person per event.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Registration",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "event",
                    fields.ForeignKeyField(
                        "openmonth.OpenEvent",
                        source_field="event_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="registrations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("person_key", fields.CharField(max_length=80)),
                ("resident_id", fields.IntField(null=True, db_index=True)),
                ("name", fields.CharField(default="", max_length=50)),
                ("phone", fields.CharField(default="", max_length=20)),
                ("email", fields.CharField(default="", max_length=254)),
                ("status", fields.CharField(db_index=True, max_length=12)),
                ("places", fields.IntField(default=1)),
                ("companions", fields.IntField(default=0)),
                ("child_companions", fields.IntField(default=0)),
                ("guardian_consent", fields.BooleanField(default=False)),
                ("ticket_code", fields.CharField(null=True, unique=True, max_length=16)),
                ("month", fields.CharField(max_length=7)),
                (
                    "offered_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "confirmed_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "cancelled_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "checked_in_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("checked_in_by", fields.IntField(null=True)),
                ("no_show", fields.BooleanField(default=False)),
                (
                    "reminded_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("source", fields.CharField(default="web", max_length=8)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "openmonth_registration",
                "app": "openmonth",
                "unique_together": (("event", "person_key"),),
                "pk_attr": "id",
                "table_description": "报名: one person's place at one event.",
            },
            bases=["Model"],
        ),
    ]
