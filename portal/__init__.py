"""Member pages (会员中心): members sign in with an SMS code or a password and see their own
tier, progress, member code, notices, history, purchases and the rules of every tier."""
