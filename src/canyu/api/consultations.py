"""JSON API v1 of this feature (see API.md)."""
