"""Evaluation of synthesis per missing-contrast scenario: scenarios, methods, tables."""
