"""``selmirror publish``: the mirror, published to S3-compatible object storage.

``inventory`` reads what the mirror holds (through the records the index writer wrote);
``plan`` decides, purely, which objects to put and delete, in the order that keeps the
bucket a consistent index at every moment.
"""
