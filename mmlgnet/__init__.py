"""MMLGNet reproduction."""
