"""The HTTP API (`returns-api`): storefront, warehouse and operator doors and the vendors' webhooks,
under /v1. Handlers are thin: FastAPI checks the caller's key and role (auth.py) and validates
the body against the contract's models; the handler names the actor and calls ReturnsClient,
whose errors become statuses in one place (errors.py). A request refused for any reason has
started or signalled nothing."""
