"""Call-backs: offer, number capture, scheduling, retries, API."""
