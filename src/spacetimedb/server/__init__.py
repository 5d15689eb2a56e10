"""The server layer."""
