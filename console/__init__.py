"""Web pages: the signed access links of approved lookups (and, later, the managers' and archivists' console)."""
