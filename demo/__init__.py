"""Demo data: a county-shaped directory and a year of events, made deterministically from a seed."""
