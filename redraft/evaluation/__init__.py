"""The offline gate before promotion: draft a pinned set of briefs with two versions and
compare each draft with what the writers sent (or, with simulated writers, with what the
writer makes of that very draft)."""
