"""Small pieces every app shares: id bounds and the API's pagination."""
