"""A policy's notice before a downgrade is at least 30 days (domain.md: "no downgrade takes effect
sooner than 30 days after that warning"). A validator only: no column changes; versions already
published keep what they have. Reverse: the validator is dropped."""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tiers", "0015_history_keys_unchecked"),
    ]

    operations = [
        migrations.AlterField(
            model_name="tierpolicy",
            name="notice_days",
            field=models.PositiveSmallIntegerField(
                default=30,
                help_text="No downgrade takes effect sooner than this many days after the warning.",
                validators=[
                    django.core.validators.MinValueValidator(
                        30,
                        "Members are promised at least %(limit_value)s days after a warning to make up what is missing.",
                    ),
                    django.core.validators.MaxValueValidator(365),
                ],
                verbose_name="notice days",
            ),
        ),
    ]
