"""Scheduled jobs: django-q2 schedules, recompute runs and the jobs page (to come)."""
