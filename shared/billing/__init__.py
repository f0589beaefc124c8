"""Billing and credits (ARCHITECTURE §5, §5b).

Modules, one concern each:

- `plans`       plans, top-ups and per-plan limits (configuration)
- `pricing`     the price table that turns usage into credits
- `ledger`      credit balance, ledger pages, the 402 rule and turn holds (money moves only in SQL functions)
- `settlement`  `settle_turn(turn_id)`: one idempotent transaction per turn; the reaper
- `stripe_client` the one Stripe seam (`StripeClient` with `STRIPE_API_BASE`)
- `checkout`    Checkout / Customer Portal sessions and the customer created once per user
- `webhook`     signature check, exactly-once event record, the durable job that handles it
- `events`      what each Stripe event does to our data
- `metering`    hourly usage → Billing Meter events
- `payouts`     monthly creator transfers; Connect onboarding

Errors callers see are `shared.problems.Problem`s (402 insufficient credits, 503 billing not
configured, 400 bad webhook signature); Stripe's own `stripe.StripeError` tree propagates from jobs,
whose retries are safe because every Stripe write carries an idempotency key.
"""
