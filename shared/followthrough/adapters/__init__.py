"""Adapters: each talks to exactly one outside system (X, DynamoDB, SES, SQS, KMS)."""
