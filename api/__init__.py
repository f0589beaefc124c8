"""Vercel Python functions: one Flask `app` per route group (routes are thin; logic is in `shared`)."""
