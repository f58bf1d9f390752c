"""The supervisor's reports: period figures per day with exports, satisfaction, the monthly scorecard."""
