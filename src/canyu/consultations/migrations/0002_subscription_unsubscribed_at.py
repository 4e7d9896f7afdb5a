from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("consultations", "0001_initial")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Subscription",
            name="unsubscribed_at",
            field=fields.DatetimeField(
                null=True,
                description="When the resident unsubscribed (null while subscribed), the start of its retention period",
                auto_now=False,
                auto_now_add=False,
            ),
        ),
    ]
