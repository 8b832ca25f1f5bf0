"""The WeChat edge: signature checks, AES, hardened XML parsing, exactly-once ingest, the webhook and simulator."""
