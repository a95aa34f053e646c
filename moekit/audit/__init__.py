"""Audit: a plan document's claims as a scenario, each checked and given a verdict."""
