"""政府开放月: open-day events, registrations (places, waiting list, tickets), ratings."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class OpenEvent(Model):
    """开放活动: an open-day event of one unit (委办局 or 街镇).

    ``taken`` counts the places held by confirmed and offered registrations (companions
    included). It only changes through a conditional UPDATE, and the reconciliation job
    compares it with the rows.
    """

    id = fields.IntField(primary_key=True)
    unit_id = fields.IntField(db_index=True)
    unit_name = fields.CharField(max_length=64)
    title = fields.CharField(max_length=120)
    summary = fields.TextField()
    theme = fields.CharField(max_length=16)
    mode = fields.CharField(max_length=8)  # offline | online | hybrid
    location = fields.CharField(max_length=200, default="")
    district = fields.CharField(max_length=16, default="")
    stream_url = fields.CharField(max_length=300, default="")
    starts_at = fields.DatetimeField(db_index=True)
    ends_at = fields.DatetimeField()
    capacity = fields.IntField()
    taken = fields.IntField(default=0)
    registration_opens_at = fields.DatetimeField()
    registration_closes_at = fields.DatetimeField()
    cancellation_closes_at = fields.DatetimeField()
    max_companions = fields.IntField(default=0)
    min_age = fields.IntField(null=True)
    id_check = fields.BooleanField(default=False)
    requirements = fields.TextField(default="")
    image_url = fields.CharField(max_length=300, default="")
    published = fields.BooleanField(default=False)
    cancelled_at = fields.DatetimeField(null=True)
    cancel_reason = fields.TextField(default="")
    created_by = fields.IntField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "openmonth_event"


class Registration(Model):
    """报名: one person's place at one event.

    ``person_key`` identifies the person (a resident id, or the keyed hash of a phone number
    for a registration taken by staff over the 12345 hotline); the unique constraint makes
    "one registration per person per event" exact.

    ``id_number_encrypted`` holds the resident ID number (居民身份证号码) only for an event
    that checks ID on site (``OpenEvent.id_check``), sealed with AES-256-GCM
    (``core.security.encrypt``), never the number itself. ``id_number_hash`` is its keyed
    hash, NULL when there is none: unique per event, so one ID number registers once per event
    whichever account brings it.
    """

    id = fields.IntField(primary_key=True)
    event: fields.ForeignKeyRelation[OpenEvent] = fields.ForeignKeyField(
        "openmonth.OpenEvent", related_name="registrations", on_delete=fields.CASCADE
    )
    person_key = fields.CharField(max_length=80)
    resident_id = fields.IntField(null=True, db_index=True)
    name = fields.CharField(max_length=50, default="")
    phone = fields.CharField(max_length=20, default="")
    email = fields.CharField(max_length=254, default="")
    status = fields.CharField(max_length=12, db_index=True)
    places = fields.IntField(default=1)
    companions = fields.IntField(default=0)
    child_companions = fields.IntField(default=0)
    guardian_consent = fields.BooleanField(default=False)
    ticket_code = fields.CharField(max_length=16, null=True, unique=True)
    month = fields.CharField(max_length=7)
    offered_until = fields.DatetimeField(null=True)
    confirmed_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)
    checked_in_at = fields.DatetimeField(null=True)
    checked_in_by = fields.IntField(null=True)
    no_show = fields.BooleanField(default=False)
    reminded_at = fields.DatetimeField(null=True)
    source = fields.CharField(max_length=8, default="web")  # web | api | phone
    id_number_encrypted = fields.CharField(max_length=120, default="", db_default="")
    id_number_hash = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "openmonth_registration"
        unique_together = (("event", "person_key"), ("event", "id_number_hash"))


class MonthlyPlaces(Model):
    """Confirmed places one person holds in one month, taken with a conditional UPDATE."""

    id = fields.IntField(primary_key=True)
    person_key = fields.CharField(max_length=80)
    month = fields.CharField(max_length=7)
    places = fields.IntField(default=0)

    class Meta:
        table = "openmonth_monthly_places"
        unique_together = (("person_key", "month"),)


class Rating(Model):
    """活动评价: 1 to 5 stars and an optional comment, one per person per event."""

    id = fields.IntField(primary_key=True)
    event: fields.ForeignKeyRelation[OpenEvent] = fields.ForeignKeyField(
        "openmonth.OpenEvent", related_name="ratings", on_delete=fields.CASCADE
    )
    person_key = fields.CharField(max_length=80)
    stars = fields.IntField()
    comment = fields.TextField(default="")
    created_at = fields.DatetimeField()

    class Meta:
        table = "openmonth_rating"
        unique_together = (("event", "person_key"),)
