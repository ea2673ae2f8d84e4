"""Moving work: Dramatiq brokers and actors, the capture pipeline, the reconciler."""
