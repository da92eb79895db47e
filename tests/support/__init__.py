"""Test doubles that run for real: local servers the code under test talks to."""
