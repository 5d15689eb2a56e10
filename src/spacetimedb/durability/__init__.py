"""The durability layer."""
