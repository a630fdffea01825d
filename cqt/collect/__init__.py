"""Collectors: venue payloads to storage rows (parsers) and the connections that feed them."""
