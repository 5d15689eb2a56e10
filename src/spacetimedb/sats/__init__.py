"""The sats layer."""
