"""A simulated organisation and attack campaign, for the demo and for tests."""
