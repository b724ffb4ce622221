"""Reference implementations of SCIM filters and PATCH, written from the RFC text, for property tests."""
