"""Real servers and fixtures that tests start for themselves."""
