"""Staff accounts: who logs in to the pages, with which role, and the rules around it.

`passwords` hashes and checks passwords (Argon2id), `secrets` makes session and API tokens and their
stored digests, `lockout` decides when failed logins lock a user name or an address, `roster` merges the
agents and shifts the file declares with those added on /admin. None of them touches the database.
"""
