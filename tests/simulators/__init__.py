"""Local HTTP simulators of external services that cannot run on this machine.

Each one follows the provider's published HTTP contract (paths, auth header, payloads, error codes)
so adapters are tested over real HTTP with their real SDKs.
"""
