"""The module layer."""
