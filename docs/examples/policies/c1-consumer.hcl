# An application that reads the credential of one connector, app-123/conn-456,
# and nothing else: it cannot register, rotate or delete connectors, read the
# config, list connectors, read a credential's metadata, or read any other
# connector's credential.
path "c1/creds/app-123/conn-456" {
  capabilities = ["read"]
}
