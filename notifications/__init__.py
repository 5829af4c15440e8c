"""Notifications to members: the outbox, editable templates per kind and language, and the
delivery channels (e-mail, SMS, in-app messages)."""
