"""Helpers shared by the tests: the recorder and client, tenant rows, fakes wiring, machines."""
