"""Orgs, teams, principals, API keys and role bindings: the rules of tenancy.

The Admin servicer translates protobuf into calls on these classes, which
check what the caller may do to which resource, validate, and write.
"""
