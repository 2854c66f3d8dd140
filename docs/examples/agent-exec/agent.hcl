# Where Agent finds Vault and how it logs in; pair it with connector.hcl.
vault {
  address = "https://vault.example.com:8200"
}

auto_auth {
  method "approle" {
    config = {
      role_id_file_path                   = "/etc/baton-okta/role-id"
      secret_id_file_path                 = "/etc/baton-okta/secret-id"
      remove_secret_id_file_after_reading = false
    }
  }
}

# Keep retrying while Vault is unreachable instead of exiting (and stopping
# the connector with it).
template_config {
  exit_on_retry_failure = false
}
