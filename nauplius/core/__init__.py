"""The shared core of Nauplius: what the gateway, the ingest worker and the command line share.

Typed async clients of the internal services (`clients`), their failures (`errors`), the
contracts of the internal APIs (`contracts`), the active model (`active_model`), the ingest
pipeline (`pipeline`), the index's label payloads (`index_sync`) and the suggestion maths
(`suggestions`). It imports no service, no gateway and no command-line module.
"""
