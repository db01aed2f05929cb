"""iongrad.workflows."""
