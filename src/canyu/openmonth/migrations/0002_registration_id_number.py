from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint


class Migration(migrations.Migration):
    dependencies = [("openmonth", "0001_initial")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Registration",
            name="id_number_encrypted",
            field=fields.CharField(default="", db_default="", max_length=120),
        ),
        ops.AddField(
            model_name="Registration",
            name="id_number_hash",
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddConstraint(
            model_name="Registration",
            constraint=UniqueConstraint(fields=("event", "id_number_hash"), name=None),
        ),
    ]
