"""The admin pages (issue 4): journeys as timelines and sequence diagrams, behind HTTP Basic."""
