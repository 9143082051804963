"""Unit tests of alignlab.losses. A package, so that test_tokens.py here and tests/test_tokens.py
can both be collected (pytest's default import mode needs unique basenames outside packages)."""
