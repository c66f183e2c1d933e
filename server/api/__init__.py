"""One router per feature of the JSON API."""
