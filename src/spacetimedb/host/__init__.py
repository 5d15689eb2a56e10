"""The host layer."""
