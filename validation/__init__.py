"""syncgap.validation: predicted against observed, reports and figures, and the command line."""
