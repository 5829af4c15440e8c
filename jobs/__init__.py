"""Scheduled jobs: django-q2 schedules, the chunked recompute and its run records, the jobs
page and the staff view of a member's notifications."""
