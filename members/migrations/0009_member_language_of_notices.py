"""Members get a language of notices: empty (the site's language) for everyone until they read
the member pages in one. Adding a column with a constant default rewrites no rows on
PostgreSQL; the partial index starts empty. Reverse: the column and its index are dropped."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0008_contacts_normalised"),
    ]

    operations = [
        migrations.AddField(
            model_name="member",
            name="language",
            field=models.CharField(
                blank=True,
                choices=[("zh-hans", "Simplified Chinese"), ("en", "English")],
                db_default="",
                default="",
                max_length=8,
                verbose_name="language of notices",
            ),
        ),
        migrations.AddIndex(
            model_name="member",
            index=models.Index(
                condition=models.Q(("language", ""), _negated=True),
                fields=["id"],
                name="member_language_chosen",
            ),
        ),
    ]
