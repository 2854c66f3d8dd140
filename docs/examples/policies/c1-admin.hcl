# Administers the C1 secrets engine mounted at c1/: its config, registering
# and deregistering connectors, rotations, credential metadata and revocation,
# reading every connector's credential, OAuth tokens and the metrics.
path "c1/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# Tune the mount (lease TTLs, plugin version) and read its settings.
path "sys/mounts/c1/tune" {
  capabilities = ["read", "update"]
}

# Revoke the leases the engine issued ("vault lease revoke -prefix c1/...").
# Revoking a lease never revokes the upstream credential: delete or rotate the
# connector for that.
path "sys/leases/revoke-prefix/c1/*" {
  capabilities = ["update", "sudo"]
}
