"""Stripe resources the fake serves, one module per area; each function is one API operation.

Operations take the call context and the parsed parameters (plus path ids), return the object to
serve, and record the events Stripe would send through `call.emit`.
"""
