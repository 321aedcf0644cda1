"""Reporting (`make report`): reports/plots/*.csv and reports/REPORT.md from the run outputs."""
