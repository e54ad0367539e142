"""Helpers the tests share: tiny data, runs, servers and checks (imported as `support.NAME`)."""
