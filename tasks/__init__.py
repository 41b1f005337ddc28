"""Background work: Celery tasks (thin wrappers around services) and the transactional outbox."""
