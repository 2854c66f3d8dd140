# The role of a Vault Agent that supervises the baton connectors of one app on
# one host (see ../agent-exec/ and ../systemd/): it reads the credential of
# every connector of app-123, and nothing else. "+" matches one path segment,
# so creds/app-123/<connector_id>/<credential_id> (metadata, revoke) and the
# connectors of other apps stay out of reach.
#
# Attach it to the Agent's AppRole:
#   vault write auth/approle/role/baton-app-123 token_policies=c1-agent token_ttl=1h token_max_ttl=24h
path "c1/creds/app-123/+" {
  capabilities = ["read"]
}
