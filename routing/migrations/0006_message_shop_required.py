import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0005_report_data"),
    ]

    operations = [
        migrations.AlterField(
            model_name="message",
            name="shop",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="backoffice.shop"
            ),
        ),
    ]
