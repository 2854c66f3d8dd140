# Rotates the engine's own C1 credential, from a scheduled job or by hand,
# and reads the config to watch it (root_expires_time, root_next_rotation,
# root_pending_deletions). The config read never returns a secret.
path "c1/config/rotate-root" {
  capabilities = ["update"]
}

path "c1/config" {
  capabilities = ["read"]
}
