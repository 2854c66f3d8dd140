# A Prometheus scraper: reads the engine's metrics and nothing else.
path "c1/metrics" {
  capabilities = ["read"]
}
