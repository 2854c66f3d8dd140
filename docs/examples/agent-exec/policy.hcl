# The connector's Agent reads its credential and nothing else.
path "c1/creds/app-123/conn-456" {
  capabilities = ["read"]
}
