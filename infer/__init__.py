"""iongrad.infer."""
