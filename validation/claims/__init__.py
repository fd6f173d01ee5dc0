"""The claims of the report: which claim each check tests (table.py), the scoreboard's rules (rules.py), the scoreboard (scoreboard.py)."""
