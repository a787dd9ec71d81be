"""Store reports read from the log alone: the end-of-day (Z) report (`zreport`), its route."""
