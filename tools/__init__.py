"""Operator tooling, kept apart from composition: the offline runner (the program under mocks,
recorded), the offline render, the size summary, and the adoption check."""
