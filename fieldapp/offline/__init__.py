"""The offline contract: service worker, outbox script, manifest, and the server side of the sync protocol."""
