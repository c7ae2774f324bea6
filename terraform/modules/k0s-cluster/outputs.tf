output "config_yaml" {
  description = "The rendered k0sctl configuration (no secrets: SSH keys are referenced by path)."
  value       = local.config_yaml
}

output "config_sha256" {
  description = "SHA-256 of the rendered configuration; k0sctl apply re-runs when it changes."
  value       = sha256(local.config_yaml)
}

output "kubeconfig_path" {
  description = "Absolute path of the admin kubeconfig; the file exists once k0sctl apply has run (make consumers depend on this module)."
  # Known at plan time on purpose (terraform_data's output would be unknown whenever the
  # config changes), so a provider configured with it can still plan when a node is added.
  value = local.kubeconfig_path
}

output "api_endpoint" {
  description = "Kubernetes API URL on the first controller."
  value       = "https://${local.controllers[sort(keys(local.controllers))[0]].address}:6443"
}

output "controllers" {
  description = "Controller hostnames."
  value       = sort(keys(local.controllers))
}

output "workers" {
  description = "Worker hostnames."
  value       = sort(keys(local.workers))
}

output "k0s_version" {
  description = "The pinned k0s version the cluster runs."
  value       = var.k0s_version
}
