"""The codegen layer."""
