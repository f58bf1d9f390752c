"""Payment reminders (催付): the rules, the scheduler's scan, and the consumer of order events."""
