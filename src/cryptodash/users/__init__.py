"""Users: accounts, authentication, roles and preferences."""
