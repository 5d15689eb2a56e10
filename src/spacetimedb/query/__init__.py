"""The query layer."""
