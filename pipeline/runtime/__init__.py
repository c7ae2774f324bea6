"""Process plumbing: settings, metrics, the health endpoint, logging and signals."""
