"""Campaigns over scenarios: drawing and shrinking cases with Hypothesis, tallies and
summaries, replaying a report, re-checking the known-issues register, reproduction rates."""
