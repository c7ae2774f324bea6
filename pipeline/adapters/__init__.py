"""Adapters to the outside: JetStream (bus, consumer), MongoDB (catalog), S3 and files (storage).

The only importers of nats, pymongo and aioboto3.
"""
