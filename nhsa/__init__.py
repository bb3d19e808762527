"""The national wire envelope: the /v1 transactions behind the national platform's message
shape, for HIS clients written against it."""
