"""One module per console page: each reads through the domains' public services, with the
signed-in caller's scope, and returns what its template shows."""
