# An application that reads the OAuth access token of one Aitronos
# connection, ca_demo, and nothing else (see ../go-client/).
path "c1/oauth/by-connection/ca_demo" {
  capabilities = ["read"]
}
