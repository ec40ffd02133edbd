"""The bottom layer: specs, units, time and random primitives; imports nothing above it."""
