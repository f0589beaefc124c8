"""Emulators of the outside services the platform calls (Fly Machines, Stripe), for dev, tests and benchmarks."""
