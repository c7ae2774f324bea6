provider "maas" {
  api_version      = "2.0"
  api_url          = var.maas_api_url
  api_key          = var.maas_api_key
  tls_ca_cert_path = var.maas_tls_ca_cert_path
}

# The kubeconfig file is written by module.cluster (k0sctl kubeconfig). Its path is known
# at plan time, the file only after the cluster exists: on the very first run apply the
# cluster first (`tofu apply -target=module.cluster`), then everything (`tofu apply`).
provider "helm" {
  kubernetes = {
    config_path = module.cluster.kubeconfig_path
  }
}
