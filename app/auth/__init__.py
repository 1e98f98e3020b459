"""Accounts: login, logout, invitations, the role-aware home page."""
