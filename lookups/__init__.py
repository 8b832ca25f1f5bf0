"""Archive lookups (查档 / 查阅): staff identity, the append-only access register (查阅登记簿), signed links."""
