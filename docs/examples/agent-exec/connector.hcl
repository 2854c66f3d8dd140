# Vault Agent as the process supervisor of a baton connector.
#
# The connector reads BATON_CLIENT_ID and BATON_CLIENT_SECRET once, at start-up.
# Agent renders both from the engine's creds/ path into the connector's
# environment and starts it; when the engine rotates the credential, Agent
# sees the new one as the old lease nears its end (the lease ends no later
# than the old credential's planned revocation), and restarts the connector
# with it. The old credential is revoked only after its grace and once every
# lease issued for it has ended, so the connector never holds a revoked one.
#
# Give Agent this file together with one that sets vault {} and auto_auth {}
# (see agent.hcl): vault agent -config=agent.hcl -config=connector.hcl

env_template "BATON_CLIENT_ID" {
  contents             = "{{ with secret \"c1/creds/app-123/conn-456\" }}{{ .Data.client_id }}{{ end }}"
  error_on_missing_key = true
}

env_template "BATON_CLIENT_SECRET" {
  contents             = "{{ with secret \"c1/creds/app-123/conn-456\" }}{{ .Data.client_secret }}{{ end }}"
  error_on_missing_key = true
}

exec {
  command                   = ["baton-okta"]
  restart_on_secret_changes = "always"
  restart_stop_signal       = "SIGTERM"
}
