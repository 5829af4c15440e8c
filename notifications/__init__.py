"""Notifications to members: the outbox, templates and delivery channels (to come)."""
