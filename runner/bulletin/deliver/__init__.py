"""Delivery targets."""
