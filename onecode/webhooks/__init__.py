"""Signed webhooks (Standard Webhooks): subscriptions, a durable delivery worker, and the
detectors that turn crowd levels and silent gates into events. See docs/webhooks.md."""
