"""The validation report: the run (run.py) and what it writes: report.md (markdown.py), report.html (html.py), summary.tex (tex.py), with the words of glossary.py."""
