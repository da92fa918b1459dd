"""The domain model: complaints, cases, agencies and the rules between them.

Nothing here imports HTTP, SQL or scheduler code; adapters translate to and from these objects.
"""
