"""The bot's HTTP surface: webhooks, the JSON API and the pages."""
