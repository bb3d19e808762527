"""The demo region: a simulated pooling region driven end to end through the real HTTP API."""
