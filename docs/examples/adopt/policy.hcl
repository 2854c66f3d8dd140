# Adopting connectors' existing credentials (adopt-all.sh, or vault write by
# hand): "create" for a connector the engine does not manage yet, "update"
# for one it manages (a 409 unless replace_current=true), "read" to check the
# result in the rotation status. It cannot read a credential's secret.
path "c1/creds/*" {
  capabilities = ["create", "update"]
}

path "c1/rotate/*" {
  capabilities = ["read"]
}
