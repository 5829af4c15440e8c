"""Member-facing pages: my tier, at phone width (to come)."""
